// SPDX-License-Identifier: GPL-2.0
/*
 * Balloon up and down. Every ballooned 4 KiB page is PageOffline and has
 * our cookie in page->private; it is taken out of the managed page count
 * (MemTotal) on every kernel, 5.10 included, and counted in
 * NR_BALLOON_PAGES where the kernel has it.
 *
 * A 2 MiB allocation stays one order-9 page while we hold all of it: its
 * pages carry HVB_COOKIE_2M and only its first page is on hvb.pages, so
 * the host taking it back whole costs one free, not 512. The first range
 * that names only part of it splits it, and from then on its pages are
 * 4 KiB pages like the others, each with HVB_COOKIE and on the list.
 * A range the host gives back is freed in runs within a 2 MiB block, and
 * only pages that carry our cookie: others are counted, logged and left
 * alone.
 *
 * Only the ordered workqueue touches the list, and remove or module exit
 * after the workqueue is drained, so the list needs no lock.
 */
#include <linux/delay.h>
#include <linux/gfp.h>
#include <linux/memory_hotplug.h>
#include <linux/mm.h>
#include <linux/page-flags.h>
#include <linux/sched.h>
#include <linux/slab.h>

#include "hvb.h"

/* The marks of pages we hold: no one else stores our address there. */
#define HVB_COOKIE	((unsigned long)&hvb_dev)
#define HVB_COOKIE_2M	(HVB_COOKIE + 1)

#define HVB_BALLOON_GFP	(GFP_HIGHUSER | __GFP_NORETRY | __GFP_NOMEMALLOC | __GFP_NOWARN)

/* How long a full ring is retried, 20 ms apart, as in-tree. */
#define HVB_SEND_TRIES	250

/* Hold the 2^@order pages at @page, a 4 KiB page or a whole 2 MiB one. */
static void hvb_take_pages(struct hvb *b, struct page *page, unsigned int order)
{
	unsigned long cookie = order ? HVB_COOKIE_2M : HVB_COOKIE;
	unsigned int i, nr = 1U << order;

	for (i = 0; i < nr; i++) {
		bext_page_set_offline(page + i, true);
		set_page_private(page + i, cookie);
	}
	list_add(&page->lru, &b->pages);
	adjust_managed_page_count(page, -(long)nr);
	bext_count_balloon_pages(page, nr);
	WRITE_ONCE(b->nr_ballooned, b->nr_ballooned + nr);
}

static void hvb_account_given(struct hvb *b, struct page *first, unsigned long nr)
{
	adjust_managed_page_count(first, nr);
	bext_count_balloon_pages(first, -(long)nr);
	WRITE_ONCE(b->nr_ballooned, b->nr_ballooned - nr);
}

/* Unmark the 2^@order pages at @page and free them; accounting is the caller's. */
static void hvb_free_held(struct page *page, unsigned int order)
{
	unsigned int i;

	list_del(&page->lru);
	for (i = 0; i < 1U << order; i++) {
		set_page_private(page + i, 0);
		bext_page_set_offline(page + i, false);
	}
	__free_pages(page, order);
}

/* Give back a page on the list, 4 KiB or a whole 2 MiB; returns how many pages. */
static unsigned long hvb_give_page(struct hvb *b, struct page *page)
{
	unsigned int order = page_private(page) == HVB_COOKIE_2M ? HVB_2M_ORDER : 0;

	hvb_account_given(b, page, 1UL << order);
	hvb_free_held(page, order);
	return 1UL << order;
}

static bool hvb_held(struct page *page)
{
	return PageOffline(page) && page_private(page) == HVB_COOKIE;
}

/* Is @page part of a whole 2 MiB allocation we hold? */
static bool hvb_held_whole(struct page *page)
{
	return PageOffline(page) && page_private(page) == HVB_COOKIE_2M;
}

/* The host names part of the 2 MiB allocation at @head: make it 512 pages. */
static void hvb_split_whole(struct hvb *b, struct page *head)
{
	unsigned int i;

	split_page(head, HVB_2M_ORDER);
	set_page_private(head, HVB_COOKIE);
	for (i = 1; i < HVB_2M_PAGES; i++) {
		set_page_private(head + i, HVB_COOKIE);
		list_add(&head[i].lru, &b->pages);
	}
}

/*
 * How many pages from @first on, at most @max, we hold in @first's zone.
 * @max keeps the run inside one 2 MiB block, so inside one memory
 * section and @first's memmap.
 */
static unsigned long hvb_held_run(struct page *first, unsigned long max)
{
	struct zone *zone = page_zone(first);
	unsigned long n;

	for (n = 0; n < max; n++)
		if (!hvb_held(first + n) || page_zone(first + n) != zone)
			break;
	return n;
}

/*
 * Give back the pages of [@pfn, @pfn + @count) that we hold, a run at a
 * time: one section lookup and one accounting update per run, not per
 * page, and one free for a whole 2 MiB allocation. Returns how many
 * pages of the range we did not hold.
 */
static unsigned long hvb_give_pfns(struct hvb *b, u64 pfn, u64 count)
{
	u64 end = pfn + count;
	unsigned long bad = 0, n, i, off;
	struct page *first;

	while (pfn < end) {
		off = pfn & (HVB_2M_PAGES - 1);
		n = min_t(u64, end - pfn, HVB_2M_PAGES - off);
		first = pfn_to_online_page(pfn);
		if (first && hvb_held_whole(first)) {
			if (n == HVB_2M_PAGES) {
				pfn += hvb_give_page(b, first);
				cond_resched();
				continue;
			}
			hvb_split_whole(b, first - off);
		}
		n = first ? hvb_held_run(first, n) : 0;
		if (!n) {
			bad++;
			if (!(++pfn & (HVB_2M_PAGES - 1)))
				cond_resched();
			continue;
		}
		hvb_account_given(b, first, n);
		for (i = 0; i < n; i++)
			hvb_free_held(first + i, 0);
		pfn += n;
		cond_resched();
	}
	return bad;
}

/*
 * Send a message the workqueue built, retrying a full ring with a new
 * transaction id; the status report goes out meanwhile, as in-tree.
 */
int hvb_send_retry(struct hvb *b, struct hvb_hdr *hdr)
{
	unsigned int tries = 0;
	int ret;

	for (;;) {
		hvb_hdr_init(hdr, hdr->type, hdr->size);
		ret = hvb_send(b, hdr);
		if (ret != -EAGAIN || ++tries >= HVB_SEND_TRIES || !READ_ONCE(b->connected))
			return ret;
		hvb_post_status(b);
		msleep(20);
	}
}

/*
 * Fill @resp with up to @want pages in ranges of @unit pages (512 or 1).
 * Returns the pages taken; *@failed says an allocation failed.
 */
static unsigned long hvb_fill(struct hvb *b, struct hvb_balloon_resp *resp,
			      unsigned long want, unsigned int unit, bool *failed)
{
	unsigned int order = unit == HVB_2M_PAGES ? HVB_2M_ORDER : 0;
	unsigned long got = 0;
	unsigned int n = 0;
	struct page *page;

	*failed = false;
	while (n < HVB_RESP_MAX_RANGES && want - got >= unit) {
		page = alloc_pages(HVB_BALLOON_GFP, order);
		if (!page) {
			*failed = true;
			break;
		}
		hvb_take_pages(b, page, order);
		resp->ranges[n++] = hvb_range_make(page_to_pfn(page), unit);
		got += unit;
	}
	resp->flags = n << 1;
	return got;
}

/* The host never saw @resp: give its pages back. */
static void hvb_unfill(struct hvb *b, struct hvb_balloon_resp *resp)
{
	unsigned int i, n = resp->flags >> 1;

	for (i = 0; i < n; i++)
		hvb_give_pfns(b, HVB_RANGE_START(resp->ranges[i]),
			      HVB_RANGE_COUNT(resp->ranges[i]));
}

/* The floor, and what is free: how much of @want may be taken. */
static unsigned long hvb_clamp(unsigned long want)
{
	unsigned long avail = si_mem_available();
	unsigned long floor = hvb_floor();

	if (avail >= want && avail - want >= floor)
		return want;
	pr_info("Balloon request will be partially fulfilled. %s\n",
		avail < want ? "Not enough memory." : "Balloon floor reached.");
	return avail > floor ? avail - floor : 0;
}

/**
 * hvb_balloon_up_work() - answer the host's balloon request
 * @work: &hvb.up_work
 *
 * Allocates 2 MiB blocks (kept whole, see the top) while they come and
 * while at least 512 pages are wanted, then 4 KiB pages, one message of
 * up to HVB_RESP_MAX_RANGES ranges at a time, all but the last with
 * more_pages set. Whatever happens, the state returns to Initialized.
 */
void hvb_balloon_up_work(struct work_struct *work)
{
	struct hvb *b = container_of(work, struct hvb, up_work);
	struct hvb_balloon_resp *resp = (void *)b->send_buf;
	unsigned int unit = HVB_2M_PAGES;
	unsigned long want, got;
	bool failed, last;
	u32 requested;
	int ret;

	spin_lock_bh(&b->req_lock);
	requested = b->up_pages;
	if (!b->up_pending) {
		spin_unlock_bh(&b->req_lock);
		return;
	}
	b->up_pending = false;
	spin_unlock_bh(&b->req_lock);

	WRITE_ONCE(b->state, HVB_BALLOON_UP);
	hvb_set_target(b, b->nr_ballooned + requested);
	want = hvb_clamp(requested);
	while (READ_ONCE(b->connected)) {
		memset(resp, 0, sizeof(*resp));
		got = hvb_fill(b, resp, want, unit, &failed);
		want -= got;
		if (!got && unit == HVB_2M_PAGES) {
			unit = 1;
			continue;
		}
		if (unit == HVB_2M_PAGES && (failed || want < HVB_2M_PAGES))
			unit = 1;
		last = !got || !want;
		if (!last)
			resp->flags |= 1;	/* more_pages */
		resp->hdr.type = HVB_MSG_BALLOON_RESPONSE;
		resp->hdr.size = sizeof(*resp) + (resp->flags >> 1) * sizeof(struct hvb_range);
		hvb_post_status(b);
		ret = hvb_send_retry(b, &resp->hdr);
		if (ret) {
			pr_err("sending a balloon response failed (%d): its %lu pages are back\n",
			       ret, got);
			hvb_unfill(b, resp);
			hvb_report(b, BALLOON_CORE_HOST);
			break;
		}
		hvb_report(b, BALLOON_CORE_HOST);
		hvb_post_status(b);
		if (last)
			break;
		cond_resched();
	}
	WRITE_ONCE(b->state, HVB_INITIALIZED);
}

/* Free one range's pages; returns how many we did not hold. */
static unsigned long hvb_free_range(struct hvb *b, struct hvb_range r)
{
	unsigned long bad = hvb_give_pfns(b, HVB_RANGE_START(r), HVB_RANGE_COUNT(r));

	if (bad)
		pr_warn_ratelimited("unballoon range %#llx+%llu: %lu pages we do not hold, ignored\n",
				    HVB_RANGE_START(r), HVB_RANGE_COUNT(r), bad);
	return bad;
}

static void hvb_balloon_down_one(struct hvb *b, struct hvb_pending_msg *m)
{
	struct hvb_unballoon_req *req = (void *)m->data;
	struct hvb_unballoon_resp resp;
	unsigned int i;
	int ret;

	for (i = 0; i < req->range_count; i++)
		hvb_free_range(b, req->ranges[i]);
	hvb_report(b, BALLOON_CORE_HOST);
	if (req->flags & 1)	/* more_pages: answer after the last part */
		return;
	hvb_set_target(b, b->nr_ballooned);
	memset(&resp, 0, sizeof(resp));
	resp.hdr.type = HVB_MSG_UNBALLOON_RESPONSE;
	resp.hdr.size = sizeof(resp);
	ret = hvb_send_retry(b, &resp.hdr);
	if (ret)
		pr_err("sending the unballoon response failed: %d\n", ret);
	hvb_post_status(b);
}

/**
 * hvb_balloon_down_work() - give back what the host's unballoon requests name
 * @work: &hvb.down_work
 *
 * Every range is checked against the pages we hold; the response goes
 * out after the request without more_pages, as in-tree.
 */
void hvb_balloon_down_work(struct work_struct *work)
{
	struct hvb *b = container_of(work, struct hvb, down_work);
	struct hvb_pending_msg *m;

	for (;;) {
		spin_lock_bh(&b->req_lock);
		m = list_first_entry_or_null(&b->down_msgs, struct hvb_pending_msg, list);
		if (m) {
			list_del(&m->list);
			b->nr_down_msgs--;
		}
		spin_unlock_bh(&b->req_lock);
		if (!m)
			break;
		WRITE_ONCE(b->state, HVB_BALLOON_DOWN);
		if (READ_ONCE(b->connected))
			hvb_balloon_down_one(b, m);
		kfree(m);
	}
	WRITE_ONCE(b->state, HVB_INITIALIZED);
}

/**
 * hvb_give_back_all() - free every ballooned page and fix the accounting
 * @b: the device, with the workqueue drained
 * @why: the reason balloon_core is given
 *
 * The host is not told: the protocol has no guest-initiated give-back.
 */
void hvb_give_back_all(struct hvb *b, enum balloon_core_reason why)
{
	struct page *page, *next;
	unsigned long n = 0;

	list_for_each_entry_safe(page, next, &b->pages, lru) {
		n += hvb_give_page(b, page);
		cond_resched();
	}
	if (n)
		pr_info("gave back %lu ballooned pages\n", n);
	hvb_set_target(b, 0);
	hvb_report(b, why);
}
