// SPDX-License-Identifier: GPL-2.0
/*
 * Inflating and deflating toward the host's target. Pages are allocated
 * with no lock held, as in the in-tree driver, and join the balloon (where
 * they become movable and can be deflated) only once the host has used
 * their inflate request. Deflated pages go back to the allocator only once
 * the host has used their deflate request (MUST_TELL_HOST), except where a
 * caller that must not sleep gives them back first, as the spec allows
 * without MUST_TELL_HOST.
 */
#include <linux/delay.h>
#include <linux/mm.h>
#include <linux/virtio_config.h>

#include "vbe.h"

s64 vbe_towards_target(struct vbe *vb)
{
	u32 num_pages;

	virtio_cread_le(vb->vdev, struct virtio_balloon_config, num_pages,
			&num_pages);
	vbe_report_target(vb, num_pages);
	/* Whole guest pages only, or the balloon would never settle. */
	return (s64)ALIGN(num_pages, VBE_PAGES_PER_PAGE) - vbe_num_pages(vb);
}

void vbe_update_actual(struct vbe *vb)
{
	u32 actual = vbe_num_pages(vb);

	/* The balloon's config space is little-endian, even on legacy devices. */
	virtio_cwrite_le(vb->vdev, struct virtio_balloon_config, actual, &actual);
}

/*
 * Balloon pages come in 2 MiB blocks where the allocator has them free:
 * one allocation instead of 512, and the balloon takes whole blocks rather
 * than splitting free ones all over memory. Never reclaim for a block;
 * single pages (balloon_page_alloc()) are the fallback.
 */
#define VBE_BLOCK_ORDER		9
#define VBE_BLOCK_GFP	((BEXT_BALLOON_GFP & ~__GFP_RECLAIM) | \
			 __GFP_NOMEMALLOC | __GFP_NOWARN)

/* The device takes 32-bit PFNs: a page above 16 TiB cannot be named. */
static bool vbe_pfn_fits(struct page *page, unsigned int order)
{
	u64 last = ((u64)page_to_pfn(page) + BIT(order)) <<
		   (PAGE_SHIFT - VIRTIO_BALLOON_PFN_SHIFT);

	return last - 1 <= U32_MAX;
}

/*
 * Allocate up to @want guest pages onto @pages; returns how many. Called
 * with no lock held; never waits for memory, the size work retries later.
 */
static unsigned int vbe_alloc_pages(struct vbe *vb, struct list_head *pages,
				    unsigned int want)
{
	unsigned int got = 0, i;
	struct page *page;

	while (want - got >= BIT(VBE_BLOCK_ORDER)) {
		if (vbe_fail_alloc(vb, VBE_BLOCK_ORDER))
			break;
		page = alloc_pages(VBE_BLOCK_GFP, VBE_BLOCK_ORDER);
		if (!page)
			break;
		if (!vbe_pfn_fits(page, VBE_BLOCK_ORDER)) {
			__free_pages(page, VBE_BLOCK_ORDER);
			break;
		}
		split_page(page, VBE_BLOCK_ORDER);
		for (i = 0; i < BIT(VBE_BLOCK_ORDER); i++)
			list_add_tail(&page[i].lru, pages);
		got += BIT(VBE_BLOCK_ORDER);
	}
	while (got < want) {
		page = vbe_fail_alloc(vb, 0) ? NULL : balloon_page_alloc();
		if (page && !vbe_pfn_fits(page, 0)) {
			dev_warn_ratelimited(&vb->vdev->dev, "page at pfn %#lx is beyond the device's 32-bit PFNs; not ballooned\n",
					     page_to_pfn(page));
			put_page(page);
			page = NULL;
		}
		if (!page) {
			atomic_long_inc(&vb->count.alloc_failures);
			dev_info_ratelimited(&vb->vdev->dev, "out of memory: got %u of %u pages this round, will retry\n",
					     got, want);
			break;
		}
		list_add_tail(&page->lru, pages);
		got++;
	}
	return got;
}

/* Free pages that never reached the balloon. */
static void vbe_free_unballooned(struct list_head *pages)
{
	struct page *page, *next;

	list_for_each_entry_safe(page, next, pages, lru) {
		list_del(&page->lru);
		put_page(page);
	}
}

/* Once the host has used @b's inflate request, its pages join the balloon. */
static void vbe_inflated(struct vbe *vb, struct vbe_batch *b)
{
	if (!b->num_pfns)
		return;
	vbe_batch_wait(vb, vb->vqs[VBE_VQ_INFLATE], b);
	bext_balloon_enqueue_list(&vb->balloon.info, &b->pages, !vb->deflate_on_oom);
	atomic_add(b->num_pfns, &vb->num_pages);
	atomic_long_add(b->num_pfns / VBE_PAGES_PER_PAGE, &vb->count.inflated);
	b->num_pfns = 0;
	vbe_report_inflated(vb, BALLOON_CORE_HOST);
}

/*
 * Inflate by up to @num 4 KiB pages, VBE_ROUND_BATCHES batches at most.
 * Batch n+1 is allocated while the host works on batch n. Stops early when
 * memory runs short or pressure pauses inflation. Returns the 4 KiB pages
 * added.
 */
unsigned int vbe_fill(struct vbe *vb, size_t num)
{
	struct virtqueue *vq = vb->vqs[VBE_VQ_INFLATE];
	unsigned int added = 0, got = 0, want = 0, i;
	struct vbe_batch *b;
	LIST_HEAD(unsent);

	WRITE_ONCE(vb->filler, current);	/* see vbe_auto_count() */
	for (i = 0; i < VBE_ROUND_BATCHES && added < num && got == want; i++) {
		if (vbe_inflation_paused(vb))
			break;
		b = &vb->batch[VBE_B_SIZE + i % 2];
		vbe_inflated(vb, b);	/* the batch before last */
		want = min_t(size_t, num - added, VBE_BATCH_PFNS) / VBE_PAGES_PER_PAGE;
		got = vbe_alloc_pages(vb, &b->pages, want);
		if (!got)
			break;
		vbe_batch_fill_pfns(vb, b);
		if (vbe_batch_send(vb, vq, b) < b->num_pfns) {
			vbe_batch_unsent(b, &unsent);
			vbe_free_unballooned(&unsent);
			got = 0;	/* stop this round */
		}
		added += b->num_pfns;
	}
	vbe_inflated(vb, &vb->batch[VBE_B_SIZE]);
	vbe_inflated(vb, &vb->batch[VBE_B_SIZE + 1]);
	WRITE_ONCE(vb->filler, NULL);

	if (got < want)
		msleep(200);	/* give reclaim a moment before the size work retries */
	return added;
}

/* Deflated pages leave the balloon for good: free them and count them out. */
static void vbe_release(struct vbe *vb, struct vbe_batch *b, enum balloon_core_reason why)
{
	struct page *page, *next;

	list_for_each_entry_safe(page, next, &b->pages, lru) {
		list_del(&page->lru);
		bext_balloon_release_page(page, !vb->deflate_on_oom);
	}
	atomic_sub(b->num_pfns, &vb->num_pages);
	atomic_long_add(b->num_pfns / VBE_PAGES_PER_PAGE, &vb->count.deflated);
	b->num_pfns = 0;
	vbe_report_inflated(vb, why);
}

/*
 * Take up to @num 4 KiB pages out of the balloon onto @b and put their
 * deflate request on the queue, without waiting for the host. With @wait,
 * wait for room in a full ring; without, stop there. Pages whose PFNs were
 * not queued go back into the balloon. Returns the 4 KiB pages queued.
 */
static unsigned int vbe_deflate_start(struct vbe *vb, struct vbe_batch *b,
				      size_t num, bool wait)
{
	struct virtqueue *vq = vb->vqs[VBE_VQ_DEFLATE];
	LIST_HEAD(unsent);
	size_t n;
	int err;

	n = min_t(size_t, num, b->max_pfns) / VBE_PAGES_PER_PAGE;
	bext_balloon_dequeue_list(&vb->balloon.info, &b->pages, n);
	if (!vbe_batch_fill_pfns(vb, b))
		return 0;	/* empty, or the rest is isolated for migration */
	if (wait) {
		vbe_batch_send(vb, vq, b);
	} else {
		err = vbe_batch_queue(vb, vq, b);
		/* A full ring only means less this time; anything else is the device's. */
		if (err && err != -ENOSPC) {
			atomic_long_inc(&vb->count.queue_errors);
			dev_err_ratelimited(&vb->vdev->dev, "cannot queue %u of %u pfns on %s (error %d); taking them back\n",
					    b->num_pfns - b->sent, b->num_pfns, vq->name, err);
		}
	}
	vbe_batch_unsent(b, &unsent);
	bext_balloon_requeue_list(&vb->balloon.info, &unsent);
	return b->num_pfns;
}

/*
 * Deflate by up to @num 4 KiB pages through the caller's own batch @b (and
 * the one after it, for the size work's pair), freeing pages only once the
 * host has used their request; balloon_core hears @why. Returns the 4 KiB
 * pages removed; fewer than asked when pages are isolated for migration.
 */
unsigned int vbe_leak(struct vbe *vb, struct vbe_batch *b, size_t num,
		      enum balloon_core_reason why)
{
	struct virtqueue *vq = vb->vqs[VBE_VQ_DEFLATE];
	bool pair = b == &vb->batch[VBE_B_SIZE];
	unsigned int removed = 0, i, n;
	struct vbe_batch *cur;

	num = min_t(size_t, num, vbe_num_pages(vb));
	for (i = 0; i < VBE_ROUND_BATCHES && removed < num; i++) {
		cur = pair ? &vb->batch[VBE_B_SIZE + i % 2] : b;
		if (cur->num_pfns) {	/* the batch before last, or this one */
			vbe_batch_wait(vb, vq, cur);
			vbe_release(vb, cur, why);
		}
		n = vbe_deflate_start(vb, cur, num - removed, true);
		if (!n)
			break;
		removed += n;
	}
	for (i = 0; i < (pair ? 2 : 1); i++) {
		cur = b + i;
		if (cur->num_pfns) {
			vbe_batch_wait(vb, vq, cur);
			vbe_release(vb, cur, why);
		}
	}
	return removed;
}

/*
 * Deflate by up to @num 4 KiB pages without sleeping, for callers in
 * reclaim; only without MUST_TELL_HOST, which lets the guest use the pages
 * before the host has used the request. @b must not be in flight (the
 * caller checks vbe_batch_done()). Returns the guest pages freed.
 */
unsigned int vbe_leak_nowait(struct vbe *vb, struct vbe_batch *b, size_t num,
			     enum balloon_core_reason why)
{
	unsigned int n;

	if (WARN_ON_ONCE(vbe_has(vb, VIRTIO_BALLOON_F_MUST_TELL_HOST)))
		return 0;
	n = vbe_deflate_start(vb, b, num, false);
	if (n)
		vbe_release(vb, b, why);
	return n / VBE_PAGES_PER_PAGE;
}

/* Run the size work (after @delay jiffies), unless the device is going away. */
void vbe_queue_size_work(struct vbe *vb, unsigned long delay)
{
	unsigned long flags;

	spin_lock_irqsave(&vb->stop_lock, flags);
	if (!vb->stop_update) {
		if (delay)
			mod_delayed_work(system_freezable_wq, &vb->resume_work, delay);
		else
			queue_work(system_freezable_wq, &vb->size_work);
	}
	spin_unlock_irqrestore(&vb->stop_lock, flags);
}

void vbe_resume_work(struct work_struct *work)
{
	struct vbe *vb = container_of(to_delayed_work(work), struct vbe, resume_work);

	vbe_queue_size_work(vb, 0);
}

void vbe_size_work(struct work_struct *work)
{
	struct vbe *vb = container_of(work, struct vbe, size_work);
	unsigned long paused;
	unsigned int added;
	bool resumed;
	s64 diff;

	if (READ_ONCE(vb->vqs_gone))
		return;	/* queued before a restore that failed */
	diff = vbe_towards_target(vb);

	if (diff > 0) {
		paused = vbe_inflation_paused(vb);
		if (paused) {
			/* Memory was short a moment ago: come back later. */
			atomic_long_inc(&vb->count.paused_rounds);
			vbe_update_actual(vb);
			vbe_queue_size_work(vb, paused);
			vbe_wake_done(vb, VBE_WAKE_SIZE);	/* not for a pause */
			return;
		}
		/*
		 * A cycle is a round that resumes after a pressure deflate; one
		 * that the shrinker hits while it runs counts with the next round.
		 */
		resumed = xchg(&vb->pressure_deflated, false);
		added = vbe_fill(vb, diff);
		if (resumed && added)
			atomic_long_inc(&vb->count.pressure_cycles);
		else if (resumed)
			WRITE_ONCE(vb->pressure_deflated, true);	/* nothing inflated yet */
		diff -= added;
	} else if (diff < 0) {
		diff += vbe_leak(vb, &vb->batch[VBE_B_SIZE], -diff, BALLOON_CORE_HOST);
	}
	/* Before the host can see `actual` at its target. */
	if (!diff)
		vbe_target_met(vb);
	vbe_update_actual(vb);

	if (diff)
		queue_work(system_freezable_wq, work);
	else
		vbe_wake_done(vb, VBE_WAKE_SIZE);	/* at the host's target */
}
