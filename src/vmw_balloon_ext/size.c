// SPDX-License-Identifier: GPL-2.0
/*
 * Inflating toward the host's target and deflating back from it.
 *
 * Inflation starts with the largest page size the host grants and drops
 * to 4 KiB when 2 MiB allocations fail or the host refuses too many 2 MiB
 * pages; refused 2 MiB pages are split and ballooned as 4 KiB pages, since
 * a host usually refuses a 2 MiB page for one 4 KiB part of it. Deflation
 * gives 4 KiB pages back first and moves up to 2 MiB ones. Unlike the
 * in-tree driver, emptying the balloon (a reset, module exit) walks every
 * page size the balloon holds, not only those the last START granted:
 * START(0) at exit grants no 2 MiB pages, and the in-tree driver's exit
 * then loops forever over 2 MiB pages it never tries to free.
 */
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/sched.h>

#include "vmwb.h"

/*
 * The change the host asks for, in frames: positive to inflate. Like
 * the in-tree driver, a deflate stops within one 2 MiB page above a
 * non-zero target, so that the balloon does not swing around it.
 */
long vmwb_change(struct vmwb *b)
{
	long size = atomic64_read(&b->size);
	long target = READ_ONCE(b->target);

	if (READ_ONCE(b->reset_required))
		return 0;
	if (target < size && target && size - target < (long)vmwb_frames(VMWB_2M))
		return 0;
	if (target > size && vmwb_inflation_paused(b))
		return 0;
	return target - size;
}

/* Up to @n pages of @ctl->size, 4 KiB ones split off earlier first. */
static bool vmwb_alloc_list(struct vmwb *b, struct vmwb_ctl *ctl, unsigned int n)
{
	struct page *page;

	while (ctl->n_pages < n) {
		if (ctl->size == VMWB_4K && !list_empty(&ctl->prealloc)) {
			page = list_first_entry(&ctl->prealloc, struct page, lru);
			list_del(&page->lru);
		} else {
			page = vmwb_alloc_page(ctl->size);
			if (!page) {
				atomic64_inc(&b->stats.page[VMWB_PSTAT_ALLOC_FAIL][ctl->size]);
				return false;
			}
		}
		atomic64_inc(&b->stats.page[VMWB_PSTAT_ALLOC][ctl->size]);
		list_add(&page->lru, &ctl->pages);
		ctl->n_pages++;
	}
	return true;
}

/* Refused 2 MiB pages become 4 KiB pages for the next round. */
static void vmwb_split_refused(struct vmwb_ctl *ctl)
{
	struct page *page, *next;
	unsigned int i;

	list_for_each_entry_safe(page, next, &ctl->refused, lru) {
		list_del(&page->lru);
		split_page(page, VMWB_2M_ORDER);
		for (i = 0; i < vmwb_frames(VMWB_2M); i++)
			list_add(&page[i].lru, &ctl->prealloc);
	}
	ctl->n_refused = 0;
}

static void vmwb_free_refused(struct vmwb *b, struct vmwb_ctl *ctl)
{
	if (!ctl->n_refused)
		return;
	atomic64_add(ctl->n_refused, &b->stats.page[VMWB_PSTAT_REFUSED_FREE][ctl->size]);
	vmwb_free_list(&ctl->refused, ctl->size);
	ctl->n_refused = 0;
}

void vmwb_inflate(struct vmwb *b)
{
	struct vmwb_ctl ctl = {
		.pages = LIST_HEAD_INIT(ctl.pages),
		.refused = LIST_HEAD_INIT(ctl.refused),
		.prealloc = LIST_HEAD_INIT(ctl.prealloc),
		.size = b->max_size,
		.op = VMWB_INFLATE,
	};
	long change;

	while ((change = vmwb_change(b)) > 0) {
		unsigned int want = min_t(unsigned long, b->batch_max,
					  DIV_ROUND_UP(change, vmwb_frames(ctl.size)));
		bool allocated = vmwb_alloc_list(b, &ctl, want);
		int err = vmwb_lock_list(b, &ctl, true);

		vmwb_enqueue(b, &ctl.pages, ctl.n_pages, ctl.size);
		ctl.n_pages = 0;
		if (err)
			break;
		if (!allocated || ctl.n_refused >= VMWB_MAX_REFUSED) {
			if (ctl.size == VMWB_4K)
				break;
			vmwb_split_refused(&ctl);
			ctl.size = VMWB_4K;
		}
		cond_resched();
	}
	/* Whole-command refusals leave 2 MiB pages here too. */
	vmwb_free_refused(b, &ctl);
	vmwb_free_list(&ctl.prealloc, VMWB_4K);
	vmwb_report(b, BALLOON_CORE_HOST);
}

/**
 * vmwb_deflate() - give pages back to the guest.
 * @b: the balloon
 * @frames: how many frames; 0 means down to the host's target
 * @coordinated: unlock with the host first; false only when the host has
 *	forgotten every page (a reset, or after START at exit)
 * @wait: wait for the host lock; false from the shrinker and the OOM path
 *
 * Pages the host refuses to unlock stay in the balloon.
 *
 * Return: the frames given back.
 */
unsigned long vmwb_deflate(struct vmwb *b, unsigned long frames, bool coordinated,
			   bool wait)
{
	struct vmwb_ctl ctl = {
		.pages = LIST_HEAD_INIT(ctl.pages),
		.refused = LIST_HEAD_INIT(ctl.refused),
		.size = VMWB_4K,
		.op = VMWB_DEFLATE,
	};
	unsigned long done = 0, tried = 0;

	for (;;) {
		long left = frames ? (long)(frames - tried) : -vmwb_change(b);
		unsigned int want, freed;
		bool all;

		if (left <= 0)
			break;
		want = min_t(unsigned long, b->batch_max,
			     DIV_ROUND_UP(left, vmwb_frames(ctl.size)));
		ctl.n_pages = vmwb_dequeue(b, &ctl.pages, want, ctl.size);
		tried += ctl.n_pages * vmwb_frames(ctl.size);
		if (coordinated && vmwb_lock_list(b, &ctl, wait) == -EAGAIN) {
			/* Host lock taken: nothing was sent, all stay. */
			list_splice_init(&ctl.pages, &ctl.refused);
			ctl.n_refused = ctl.n_pages;
			ctl.n_pages = 0;
		}
		all = ctl.n_pages == want;
		freed = ctl.n_pages;
		vmwb_release(b, &ctl.pages, freed, ctl.size);
		done += freed * vmwb_frames(ctl.size);
		vmwb_enqueue(b, &ctl.refused, ctl.n_refused, ctl.size);
		ctl.n_refused = 0;
		ctl.n_pages = 0;
		if (!all) {
			if (ctl.size == VMWB_NR_SIZES - 1)
				break;
			ctl.size++;
		}
		cond_resched();
	}
	return done;
}

/*
 * Empty the balloon without telling the host, which has forgotten every
 * page (it answered RESET, or was sent START). Every size is walked, and
 * pages isolated for migration come back to the list: wait for them.
 */
void vmwb_pop(struct vmwb *b)
{
	long size;

	while ((size = atomic64_read(&b->size)) > 0) {
		if (!vmwb_deflate(b, size, false, true))
			schedule_timeout_uninterruptible(1);
	}
	vmwb_report(b, BALLOON_CORE_RESET);
}
