// SPDX-License-Identifier: GPL-2.0
/*
 * Inflating and deflating toward the host's target, and telling the host
 * which pages moved.
 */
#include <linux/delay.h>
#include <linux/mm.h>
#include <linux/scatterlist.h>
#include <linux/virtio_config.h>

#include "vbe.h"

/* How long to wait for the host before saying in the log that it is late. */
#define VBE_ACK_WARN_SECS	30

void vbe_add_pfns(struct vbe *vb, struct page *page)
{
	unsigned long pfn = page_to_pfn(page) << (PAGE_SHIFT - VIRTIO_BALLOON_PFN_SHIFT);
	unsigned int i;

	for (i = 0; i < VBE_PAGES_PER_PAGE; i++)
		vb->pfns[vb->num_pfns++] = cpu_to_virtio32(vb->vdev, pfn + i);
}

void vbe_ack(struct virtqueue *vq)
{
	struct vbe *vb = vq->vdev->priv;

	wake_up(&vb->acked);
}

/* Take the buffers the host has used off @vq; true once @bufs are all back. */
static bool vbe_reaped_all(struct virtqueue *vq, unsigned int *bufs)
{
	unsigned int len;

	while (*bufs && virtqueue_get_buf(vq, &len))
		(*bufs)--;
	return !*bufs;
}

/* Kick @vq and wait until the host has used all @bufs buffers on it. */
void vbe_kick_and_wait(struct vbe *vb, struct virtqueue *vq, unsigned int bufs)
{
	virtqueue_kick(vq);
	while (!wait_event_timeout(vb->acked, vbe_reaped_all(vq, &bufs),
				   VBE_ACK_WARN_SECS * HZ))
		dev_warn(&vb->vdev->dev, "host has not used %u %s buffers for %d s; still waiting\n",
			 bufs, vq->name, VBE_ACK_WARN_SECS);
}

/*
 * Send vb->pfns on @vq, VBE_PFNS_MAX to a buffer, and wait until the host
 * has used them all. One kick for the lot: the round trip to the host is
 * what costs, not the buffers.
 */
void vbe_tell_host(struct vbe *vb, struct virtqueue *vq)
{
	struct scatterlist sg;
	unsigned int done = 0, queued = 0, n;
	int err;

	while (done < vb->num_pfns) {
		n = min_t(unsigned int, vb->num_pfns - done, VBE_PFNS_MAX);
		sg_init_one(&sg, &vb->pfns[done], sizeof(vb->pfns[0]) * n);
		err = virtqueue_add_outbuf(vq, &sg, 1, &vb->pfns[done], GFP_KERNEL);
		if (err == -ENOSPC && queued) {
			/* A small ring: send what fits, then go on. */
			vbe_kick_and_wait(vb, vq, queued);
			queued = 0;
			continue;
		}
		if (err) {
			dev_err_ratelimited(&vb->vdev->dev, "cannot queue %u pfns on %s (error %d)\n",
					    n, vq->name, err);
			break;
		}
		queued++;
		done += n;
	}
	if (queued)
		vbe_kick_and_wait(vb, vq, queued);
}

s64 vbe_towards_target(struct vbe *vb)
{
	u32 num_pages;

	virtio_cread_le(vb->vdev, struct virtio_balloon_config, num_pages,
			&num_pages);
	/* Whole guest pages only, or the balloon would never settle. */
	return (s64)ALIGN(num_pages, VBE_PAGES_PER_PAGE) - READ_ONCE(vb->num_pages);
}

void vbe_update_actual(struct vbe *vb)
{
	u32 actual = READ_ONCE(vb->num_pages);

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
#define VBE_BLOCK_GFP	((GFP_HIGHUSER_MOVABLE & ~__GFP_RECLAIM) | \
			 __GFP_NOMEMALLOC | __GFP_NOWARN)

/* Allocate up to @want guest pages onto @pages; returns how many. */
static unsigned int vbe_alloc_pages(struct vbe *vb, struct list_head *pages,
				    unsigned int want)
{
	unsigned int got = 0, i;
	struct page *page;

	while (want - got >= BIT(VBE_BLOCK_ORDER)) {
		page = alloc_pages(VBE_BLOCK_GFP, VBE_BLOCK_ORDER);
		if (!page)
			break;
		split_page(page, VBE_BLOCK_ORDER);
		for (i = 0; i < BIT(VBE_BLOCK_ORDER); i++)
			list_add(&page[i].lru, pages);
		got += BIT(VBE_BLOCK_ORDER);
	}
	while (got < want) {
		page = balloon_page_alloc();
		if (!page) {
			atomic_long_inc(&vb->count.alloc_failures);
			dev_info_ratelimited(&vb->vdev->dev, "out of memory: got %u of %u pages this round, will retry\n",
					     got, want);
			/* Give reclaim a moment before the size work retries. */
			msleep(200);
			break;
		}
		list_add(&page->lru, pages);
		got++;
	}
	return got;
}

/*
 * Inflate by up to @num 4 KiB pages, one batch's worth. Pages are
 * allocated before taking the lock: allocation may reclaim for a while,
 * and migration needs the lock meanwhile. Returns the 4 KiB pages added.
 */
unsigned int vbe_fill(struct vbe *vb, size_t num)
{
	LIST_HEAD(pages);
	struct page *page;
	unsigned int added, got;

	num = min_t(size_t, num, VBE_BATCH_PFNS);
	WRITE_ONCE(vb->filler, current);	/* see vbe_auto_count() */
	got = vbe_alloc_pages(vb, &pages, num / VBE_PAGES_PER_PAGE);
	WRITE_ONCE(vb->filler, NULL);
	if (!got)
		return 0;

	mutex_lock(&vb->lock);
	vb->num_pfns = 0;
	list_for_each_entry(page, &pages, lru)
		vbe_add_pfns(vb, page);
	added = vb->num_pfns;
	bext_balloon_enqueue_list(&vb->balloon.info, &pages, !vb->deflate_on_oom);
	WRITE_ONCE(vb->num_pages, vb->num_pages + added);
	vbe_tell_host(vb, vb->vqs[VBE_VQ_INFLATE]);
	atomic_long_add(added / VBE_PAGES_PER_PAGE, &vb->count.inflated);
	vbe_report_inflated(vb);
	mutex_unlock(&vb->lock);
	return added;
}

/*
 * Deflate by up to @num 4 KiB pages, one batch's worth. The host hears
 * of the pages before they are freed, as MUST_TELL_HOST requires. Returns
 * the 4 KiB pages removed; fewer than asked when pages are isolated for
 * migration.
 */
unsigned int vbe_leak(struct vbe *vb, size_t num)
{
	LIST_HEAD(pages);
	struct page *page, *next;
	unsigned int removed;

	mutex_lock(&vb->lock);
	num = min3(num, (size_t)VBE_BATCH_PFNS, (size_t)vb->num_pages);
	bext_balloon_dequeue_list(&vb->balloon.info, &pages,
				  num / VBE_PAGES_PER_PAGE, !vb->deflate_on_oom);
	vb->num_pfns = 0;
	list_for_each_entry(page, &pages, lru)
		vbe_add_pfns(vb, page);
	removed = vb->num_pfns;
	WRITE_ONCE(vb->num_pages, vb->num_pages - removed);
	if (removed)
		vbe_tell_host(vb, vb->vqs[VBE_VQ_DEFLATE]);
	list_for_each_entry_safe(page, next, &pages, lru) {
		list_del(&page->lru);
		put_page(page);	/* the balloon's reference: back to the allocator */
	}
	atomic_long_add(removed / VBE_PAGES_PER_PAGE, &vb->count.deflated);
	vbe_report_inflated(vb);
	mutex_unlock(&vb->lock);
	return removed;
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
	s64 diff = vbe_towards_target(vb);
	unsigned long paused;
	unsigned int added;

	if (diff > 0) {
		paused = vbe_inflation_paused(vb);
		if (paused) {
			/* Memory was short a moment ago: come back later. */
			atomic_long_inc(&vb->count.paused_rounds);
			vbe_update_actual(vb);
			vbe_queue_size_work(vb, paused);
			return;
		}
		added = vbe_fill(vb, diff);
		if (added && READ_ONCE(vb->pressure_deflated)) {
			WRITE_ONCE(vb->pressure_deflated, false);
			atomic_long_inc(&vb->count.pressure_cycles);
		}
		diff -= added;
	} else if (diff < 0) {
		diff += vbe_leak(vb, -diff);
	}
	vbe_update_actual(vb);

	if (diff)
		queue_work(system_freezable_wq, work);
}
