// SPDX-License-Identifier: GPL-2.0
/*
 * The balloon's pages. 4 KiB pages live on the kernel's balloon list,
 * which makes them movable and, from 6.15, counts them in
 * NR_BALLOON_PAGES. 2 MiB pages live on a list of our own, never
 * migrated; the kernel counts them nowhere, so we count them in
 * NR_BALLOON_PAGES and in the balloon vm events ourselves, and mark each
 * of their 4 KiB parts PageOffline, as balloon pages are, so that dump
 * tools skip them.
 */
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/vmstat.h>

#include "vmwb.h"

/*
 * No reclaim for either size: the balloon takes memory the guest does
 * not need, it does not make the guest find some.
 */
#define VMWB_2M_GFP	((GFP_HIGHUSER | __GFP_NOWARN | __GFP_NOMEMALLOC) & ~__GFP_RECLAIM)

struct page *vmwb_alloc_page(enum vmwb_size size)
{
	if (size == VMWB_2M)
		return alloc_pages(VMWB_2M_GFP, VMWB_2M_ORDER);
	return balloon_page_alloc();
}

void vmwb_free_page(struct page *page, enum vmwb_size size)
{
	__free_pages(page, vmwb_order(size));
}

void vmwb_free_list(struct list_head *pages, enum vmwb_size size)
{
	struct page *page, *next;

	list_for_each_entry_safe(page, next, pages, lru) {
		list_del(&page->lru);
		vmwb_free_page(page, size);
	}
}

static void vmwb_mark_huge(struct page *page, bool offline)
{
	unsigned int i;

	for (i = 0; i < vmwb_frames(VMWB_2M); i++)
		bext_page_set_offline(page + i, offline);
}

/* @n pages of @pages, which the host has locked, join the balloon. */
void vmwb_enqueue(struct vmwb *b, struct list_head *pages, unsigned int n,
		  enum vmwb_size size)
{
	struct page *page;

	if (!n)
		return;
	if (size == VMWB_4K) {
		bext_balloon_enqueue_list(&b->balloon.info, pages, false);
	} else {
		list_for_each_entry(page, pages, lru) {
			vmwb_mark_huge(page, true);
			bext_count_balloon_pages(page, vmwb_frames(VMWB_2M));
		}
		count_vm_events(BALLOON_INFLATE, n * vmwb_frames(VMWB_2M));
		spin_lock(&b->huge_lock);
		list_splice_init(pages, &b->huge_pages);
		spin_unlock(&b->huge_lock);
	}
	atomic_long_add(n, &b->n_pages[size]);
	atomic64_add(n * vmwb_frames(size), &b->size);
}

/*
 * Up to @n pages of @size leave the balloon list for @pages; returns how
 * many. They still count as ballooned until vmwb_release() or, if the
 * host keeps them, vmwb_enqueue() again.
 */
unsigned int vmwb_dequeue(struct vmwb *b, struct list_head *pages,
			  unsigned int n, enum vmwb_size size)
{
	struct page *page, *next;
	unsigned int got = 0;

	if (size == VMWB_4K) {
		got = bext_balloon_dequeue_list(&b->balloon.info, pages, n);
	} else {
		LIST_HEAD(taken);

		spin_lock(&b->huge_lock);
		list_for_each_entry_safe(page, next, &b->huge_pages, lru) {
			if (got == n)
				break;
			list_move(&page->lru, &taken);
			got++;
		}
		spin_unlock(&b->huge_lock);
		list_for_each_entry(page, &taken, lru) {
			vmwb_mark_huge(page, false);
			bext_count_balloon_pages(page, -(long)vmwb_frames(VMWB_2M));
		}
		count_vm_events(BALLOON_DEFLATE, got * vmwb_frames(VMWB_2M));
		list_splice(&taken, pages);
	}
	atomic_long_sub(got, &b->n_pages[size]);
	atomic64_sub(got * vmwb_frames(size), &b->size);
	return got;
}

/* Dequeued pages the host no longer holds go back to the allocator. */
void vmwb_release(struct vmwb *b, struct list_head *pages, unsigned int n,
		  enum vmwb_size size)
{
	struct page *page, *next;

	list_for_each_entry_safe(page, next, pages, lru) {
		list_del(&page->lru);
		if (size == VMWB_4K)
			bext_balloon_release_page(page, false);
		else
			vmwb_free_page(page, size);
	}
	atomic64_add(n, &b->stats.page[VMWB_PSTAT_FREE][size]);
}
