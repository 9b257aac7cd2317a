// SPDX-License-Identifier: GPL-2.0
/*
 * Hot-add. The host names pages to back, optionally inside a region it
 * chose; without a region we make one, aligned to the memory block size,
 * which is also the unit of every add_memory() (the in-tree 6.1 driver
 * uses a fixed 128 MiB and fails with larger blocks). Memory is added a
 * block at a time until the backed pages are covered; as the kernel
 * onlines it, our online callback frees to the buddy only the pages the
 * host backed, and leaves the rest PageOffline until a later request
 * backs them. Memory outside our regions is onlined as the kernel would
 * (the in-tree driver up to 6.12 leaves it offline).
 *
 * Hot-added memory is never removed: the protocol's hot-remove is not
 * implemented (as in-tree). The regions, the online callback and the
 * memory notifier are the module's, not the device's: while added memory
 * holds pages the host never backed, they must stay, or onlining that
 * memory again would hand those pages out. So while there are such pages
 * the module holds a reference to itself (rmmod says it is in use), and
 * an unbind leaves the regions, the callback and the notifier in place
 * for the next bind.
 */
#include <linux/completion.h>
#include <linux/jiffies.h>
#include <linux/memory.h>
#include <linux/memory_hotplug.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/numa.h>
#include <linux/page-flags.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

#include "hvb.h"

/* A run of pfns the host backed, [start, end). */
struct hvb_backed {
	struct list_head list;
	unsigned long start, end;
};

/* A hot-add region, [start, end); memory added up to added_end. */
struct hvb_has {
	struct list_head list;
	unsigned long start, end;
	unsigned long added_end;
	struct list_head backed;	/* sorted, disjoint, not adjacent */
};

static LIST_HEAD(hvb_regions);
static DEFINE_SPINLOCK(hvb_ha_lock);
static unsigned long hvb_pages_added;
static unsigned long hvb_pages_onlined;
static DECLARE_COMPLETION(hvb_ol_wait);
bool hvb_ha_installed;
static bool hvb_owns_callback;
static bool hvb_pinned;

/**
 * hvb_chunk_pages() - the hot-add unit: one memory block, in pages
 *
 * Return: memory_block_size_bytes() in pages.
 */
unsigned long hvb_chunk_pages(void)
{
	return bext_memory_block_bytes() >> PAGE_SHIFT;
}

void hvb_hotadd_counts(unsigned long *added, unsigned long *onlined)
{
	*added = READ_ONCE(hvb_pages_added);
	*onlined = READ_ONCE(hvb_pages_onlined);
}

static struct hvb_has *hvb_find_has(unsigned long pfn)
{
	struct hvb_has *has;

	lockdep_assert_held(&hvb_ha_lock);
	list_for_each_entry(has, &hvb_regions, list)
		if (pfn >= has->start && pfn < has->end)
			return has;
	return NULL;
}

static bool hvb_overlaps(unsigned long start, unsigned long end, struct hvb_has *except)
{
	struct hvb_has *has;

	lockdep_assert_held(&hvb_ha_lock);
	list_for_each_entry(has, &hvb_regions, list)
		if (has != except && start < has->end && has->start < end)
			return true;
	return false;
}

static bool hvb_is_backed(struct hvb_has *has, unsigned long pfn)
{
	struct hvb_backed *r;

	list_for_each_entry(r, &has->backed, list) {
		if (pfn < r->start)
			return false;
		if (pfn < r->end)
			return true;
	}
	return false;
}

/* Add [start, end) to the backed runs; @spare is used or freed. */
static void hvb_add_backed(struct hvb_has *has, unsigned long start, unsigned long end,
			   struct hvb_backed *spare)
{
	struct hvb_backed *r, *next, *pos = NULL;

	lockdep_assert_held(&hvb_ha_lock);
	list_for_each_entry_safe(r, next, &has->backed, list) {
		if (r->end < start) {
			pos = r;
			continue;
		}
		if (r->start > end)
			break;
		/* Overlapping or adjacent: absorb it. */
		start = min(start, r->start);
		end = max(end, r->end);
		list_del(&r->list);
		kfree(r);
	}
	spare->start = start;
	spare->end = end;
	if (pos)
		list_add(&spare->list, &pos->list);
	else
		list_add(&spare->list, &has->backed);
}

/* Nothing at or above added_end is backed: after adding what could be. */
static void hvb_trim_backed(struct hvb_has *has)
{
	struct hvb_backed *r, *next;

	lockdep_assert_held(&hvb_ha_lock);
	list_for_each_entry_safe(r, next, &has->backed, list) {
		if (r->start >= has->added_end) {
			list_del(&r->list);
			kfree(r);
		} else if (r->end > has->added_end) {
			r->end = has->added_end;
		}
	}
}

static void hvb_online_one(struct page *page)
{
	lockdep_assert_held(&hvb_ha_lock);
	if (PageOffline(page))
		bext_page_set_offline(page, false);
	generic_online_page(page, 0);
	hvb_pages_onlined++;
}

/*
 * The online callback: the kernel onlines [page, page + 2^order) of a
 * memory block. Ours: only backed pages go to the buddy. Not ours: as
 * the kernel would do without us.
 */
static void hvb_online_page(struct page *page, unsigned int order)
{
	unsigned long pfn = page_to_pfn(page), end = pfn + (1UL << order);
	struct hvb_has *has;

	spin_lock(&hvb_ha_lock);
	if (!hvb_overlaps(pfn, end, NULL)) {
		spin_unlock(&hvb_ha_lock);
		generic_online_page(page, order);
		return;
	}
	for (; pfn < end; pfn++) {
		page = pfn_to_page(pfn);
		has = hvb_find_has(pfn);
		if (!has)
			generic_online_page(page, 0);
		else if (hvb_is_backed(has, pfn))
			hvb_online_one(page);
		else if (!PageOffline(page))
			bext_page_set_offline(page, true);
	}
	spin_unlock(&hvb_ha_lock);
}

static int hvb_memory_notify(struct notifier_block *nb, unsigned long action, void *arg)
{
	struct memory_notify *mn = arg;
	unsigned long pfn, end, gone = 0;
	struct hvb_has *has;

	switch (action) {
	case MEM_ONLINE:
	case MEM_CANCEL_ONLINE:
		complete(&hvb_ol_wait);
		break;
	case MEM_OFFLINE:
		end = mn->start_pfn + mn->nr_pages;
		spin_lock(&hvb_ha_lock);
		for (pfn = mn->start_pfn; pfn < end; pfn++) {
			has = hvb_find_has(pfn);
			if (has && hvb_is_backed(has, pfn))
				gone++;
		}
		if (WARN_ON_ONCE(gone > hvb_pages_onlined))
			gone = hvb_pages_onlined;
		hvb_pages_onlined -= gone;
		spin_unlock(&hvb_ha_lock);
		break;
	}
	return NOTIFY_OK;
}

static struct notifier_block hvb_memory_nb = {
	.notifier_call = hvb_memory_notify,
	.priority = 0,
};

/*
 * Back the pages of [start, end) that were added before: free those in
 * online blocks (the callback frees the others when they come online).
 * The lock is dropped every 512 pages, to reschedule.
 */
static void hvb_back_added(struct hvb_has *has, unsigned long start, unsigned long end)
{
	unsigned long pfn = start, stop, limit;
	struct page *page;

	for (;;) {
		spin_lock(&hvb_ha_lock);
		limit = min(end, has->added_end);
		stop = min(limit, ALIGN(pfn + 1, 512));
		for (; pfn < stop; pfn++) {
			page = pfn_to_online_page(pfn);
			/* Not ours to free: ballooned pages (with our cookie). */
			if (page && PageOffline(page) && !page_private(page))
				hvb_online_one(page);
		}
		spin_unlock(&hvb_ha_lock);
		if (pfn >= limit)
			break;
		cond_resched();
	}
}

/* Add memory block by block until @end is covered. */
static void hvb_add_blocks(struct hvb *b, struct hvb_has *has, unsigned long end)
{
	unsigned long chunk = hvb_chunk_pages(), from;
	int nid, ret;

	while (READ_ONCE(b->connected) && b->do_hot_add) {
		spin_lock(&hvb_ha_lock);
		from = has->added_end;
		if (from >= end || from + chunk > has->end) {
			spin_unlock(&hvb_ha_lock);
			return;
		}
		has->added_end = from + chunk;
		spin_unlock(&hvb_ha_lock);

		reinit_completion(&hvb_ol_wait);
		nid = memory_add_physaddr_to_nid(PFN_PHYS(from));
		ret = add_memory(nid, PFN_PHYS(from), chunk << PAGE_SHIFT,
				 BEXT_MHP_MERGE_RESOURCE);
		if (ret) {
			pr_err("hot_add memory failed error is %d\n", ret);
			if (ret == -EEXIST) {
				/* Someone else's memory: never try again. */
				b->do_hot_add = false;
			}
			spin_lock(&hvb_ha_lock);
			has->added_end = from;
			hvb_trim_backed(has);
			spin_unlock(&hvb_ha_lock);
			return;
		}
		/* Wait for onlining, if anyone onlines it, as in-tree. */
		wait_for_completion_timeout(&hvb_ol_wait, 5 * HZ);
		hvb_post_status(b);
	}
}

/* Find or make the region for the request. NULL: refused. */
static struct hvb_has *hvb_region(unsigned long pg_start, unsigned long count,
				  unsigned long rg_start, unsigned long rg_count,
				  struct hvb_has *fresh)
{
	unsigned long chunk = hvb_chunk_pages(), start, end;
	struct hvb_has *has;

	lockdep_assert_held(&hvb_ha_lock);
	has = hvb_find_has(pg_start);
	if (has) {
		end = ALIGN(pg_start + count, chunk);
		if (!rg_count && end > has->end && !hvb_overlaps(has->end, end, has))
			has->end = end;	/* the host grows our region */
		return has;
	}
	if (rg_count) {
		start = rg_start;
		end = rg_start + rg_count;
	} else {
		start = ALIGN_DOWN(pg_start, chunk);
		end = ALIGN(pg_start + count, chunk);
	}
	if (pg_start < start || pg_start >= end || hvb_overlaps(start, end, NULL))
		return NULL;
	fresh->start = start;
	fresh->end = end;
	fresh->added_end = start;
	INIT_LIST_HEAD(&fresh->backed);
	list_add_tail(&fresh->list, &hvb_regions);
	return fresh;
}

/* Back [pg_start, pg_start + count); returns the pages covered. */
static unsigned long hvb_hot_add(struct hvb *b, unsigned long pg_start, unsigned long count,
				 unsigned long rg_start, unsigned long rg_count)
{
	struct hvb_backed *run;
	struct hvb_has *fresh, *has;
	unsigned long end, done;

	run = kmalloc(sizeof(*run), GFP_KERNEL);
	fresh = kzalloc(sizeof(*fresh), GFP_KERNEL);
	if (!run || !fresh) {
		kfree(run);
		kfree(fresh);
		return 0;
	}
	spin_lock(&hvb_ha_lock);
	has = hvb_region(pg_start, count, rg_start, rg_count, fresh);
	if (has != fresh)
		kfree(fresh);
	if (!has) {
		spin_unlock(&hvb_ha_lock);
		kfree(run);
		pr_warn_ratelimited("hot-add of %lu pages at %#lx overlaps a region, refused\n",
				    count, pg_start);
		return 0;
	}
	end = min(pg_start + count, has->end);
	hvb_add_backed(has, pg_start, end, run);
	spin_unlock(&hvb_ha_lock);

	hvb_back_added(has, pg_start, end);
	hvb_add_blocks(b, has, end);
	spin_lock(&hvb_ha_lock);
	/* What was not added is not covered: the host takes it as unusable. */
	hvb_trim_backed(has);
	done = has->added_end > pg_start ? min(end, has->added_end) - pg_start : 0;
	spin_unlock(&hvb_ha_lock);
	return done;
}

/* Pages of added memory the host never backed. */
static unsigned long hvb_unbacked(void)
{
	unsigned long n = 0;
	struct hvb_backed *r;
	struct hvb_has *has;

	spin_lock(&hvb_ha_lock);
	list_for_each_entry(has, &hvb_regions, list) {
		n += has->added_end - has->start;
		list_for_each_entry(r, &has->backed, list)
			if (r->start < has->added_end)
				n -= min(r->end, has->added_end) - r->start;
	}
	spin_unlock(&hvb_ha_lock);
	return n;
}

/* Hold the module while added memory has pages the host never backed. */
static void hvb_update_pin(void)
{
	unsigned long unbacked = hvb_unbacked();

	if (unbacked && !hvb_pinned) {
		pr_info("%lu hot-added pages are not backed: the module stays loaded until they are\n",
			unbacked);
		__module_get(THIS_MODULE);
		hvb_pinned = true;
	} else if (!unbacked && hvb_pinned) {
		hvb_pinned = false;
		module_put(THIS_MODULE);
	}
}

/**
 * hvb_hot_add_work() - answer the host's hot-add request
 * @work: &hvb.ha_work
 *
 * The response says how many pages are now covered; result 1 unless
 * nothing could be added and hot-add is still possible (so the host may
 * retry). In hibernation mode nothing is added and result is 1.
 */
void hvb_hot_add_work(struct work_struct *work)
{
	struct hvb *b = container_of(work, struct hvb, ha_work);
	struct hvb_hot_add_resp resp;
	struct hvb_hot_add_req req;
	unsigned long rg_start = 0, rg_count = 0, done = 0;
	u16 size;
	int ret;

	spin_lock_bh(&b->req_lock);
	if (!b->ha_pending) {
		spin_unlock_bh(&b->req_lock);
		return;
	}
	req = b->ha_req;
	size = b->ha_req_size;
	spin_unlock_bh(&b->req_lock);

	WRITE_ONCE(b->state, HVB_HOT_ADD);
	if (size == sizeof(req)) {
		rg_start = HVB_RANGE_START(req.region);
		rg_count = HVB_RANGE_COUNT(req.region);
	}
	if (b->hibernation)
		pr_info("Ignore hot-add request!\n");
	else if (b->do_hot_add && HVB_RANGE_COUNT(req.range))
		done = hvb_hot_add(b, HVB_RANGE_START(req.range), HVB_RANGE_COUNT(req.range),
				   rg_start, rg_count);

	memset(&resp, 0, sizeof(resp));
	resp.hdr.type = HVB_MSG_HOT_ADD_RESPONSE;
	resp.hdr.size = sizeof(resp);
	resp.page_count = done;
	resp.result = done || !b->do_hot_add || b->hibernation;
	if (!done && !b->hibernation)
		pr_err("Memory hot add failed\n");
	spin_lock(&hvb_ha_lock);
	hvb_pages_added += done;
	spin_unlock(&hvb_ha_lock);

	hvb_update_pin();

	ret = hvb_send_retry(b, &resp.hdr);
	if (ret)
		pr_err("sending the hot-add response failed: %d\n", ret);

	spin_lock_bh(&b->req_lock);
	b->ha_pending = false;
	spin_unlock_bh(&b->req_lock);
	WRITE_ONCE(b->state, HVB_INITIALIZED);
}

/**
 * hvb_hotadd_init() - take the online callback, watch memory blocks
 *
 * Return: 0, or a negative error from register_memory_notifier(). If
 * another driver owns the online callback, hot-add stays off.
 */
int hvb_hotadd_init(void)
{
	int ret;

	ret = register_memory_notifier(&hvb_memory_nb);
	if (ret)
		return ret;
	hvb_owns_callback = !set_online_page_callback(hvb_online_page);
	if (!hvb_owns_callback)
		pr_warn("another driver owns the online page callback: no hot-add\n");
	hvb_ha_installed = true;
	return 0;
}

bool hvb_hotadd_can_add(void)
{
	return hvb_owns_callback;
}

/**
 * hvb_hotadd_exit() - give the online callback back, if that is safe
 * @force: even if added memory has pages the host never backed (module
 *	exit, which cannot happen while hvb_update_pin() holds the module)
 *
 * Return: true when done; false when the callback, the notifier and the
 * regions must stay, because added memory has pages the host never backed.
 */
bool hvb_hotadd_exit(bool force)
{
	struct hvb_backed *r, *rn;
	struct hvb_has *has, *next;

	if (!hvb_ha_installed)
		return true;
	if (!force && hvb_owns_callback && hvb_unbacked()) {
		pr_info("hot-added memory has pages the host never backed: keeping the online callback\n");
		return false;
	}
	if (hvb_owns_callback)
		restore_online_page_callback(hvb_online_page);
	hvb_owns_callback = false;
	unregister_memory_notifier(&hvb_memory_nb);
	list_for_each_entry_safe(has, next, &hvb_regions, list) {
		list_for_each_entry_safe(r, rn, &has->backed, list)
			kfree(r);
		list_del(&has->list);
		kfree(has);
	}
	hvb_ha_installed = false;
	return true;
}
