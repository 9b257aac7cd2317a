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
/* How long to poll for the host's answer before sleeping on it. */
#define VBE_POLL_JIFFIES	msecs_to_jiffies(50)

int vbe_batches_init(struct vbe *vb)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(vb->batch); i++) {
		/* kmalloc, not vmalloc: the host reads them by physical address. */
		vb->batch[i].pfns = kmalloc_array(VBE_BATCH_PFNS, sizeof(__virtio32),
						  GFP_KERNEL);
		if (!vb->batch[i].pfns) {
			vbe_batches_free(vb);
			return -ENOMEM;
		}
		INIT_LIST_HEAD(&vb->batch[i].pages);
	}
	return 0;
}

void vbe_batches_free(struct vbe *vb)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(vb->batch); i++) {
		kfree(vb->batch[i].pfns);
		vb->batch[i].pfns = NULL;
	}
}

void vbe_batch_add(struct vbe *vb, struct vbe_batch *b, struct page *page)
{
	unsigned long pfn = page_to_pfn(page) << (PAGE_SHIFT - VIRTIO_BALLOON_PFN_SHIFT);
	unsigned int i;

	for (i = 0; i < VBE_PAGES_PER_PAGE; i++)
		b->pfns[b->num_pfns++] = cpu_to_virtio32(vb->vdev, pfn + i);
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

/* Credit each buffer the host has used to its batch; true once @b's are back. */
static bool vbe_batch_done(struct virtqueue *vq, struct vbe_batch *b)
{
	struct vbe_batch *owner;
	unsigned int len;

	while ((owner = virtqueue_get_buf(vq, &len)))
		owner->bufs--;
	return !b->bufs;
}

static void vbe_batch_wait(struct vbe *vb, struct virtqueue *vq, struct vbe_batch *b)
{
	unsigned long until = jiffies + VBE_POLL_JIFFIES;

	/* With the queue's interrupt off (vbe_irq_off()), poll a while first. */
	if (vbe_kick_remote_on(vb, vq))
		while (!vbe_batch_done(vq, b) && time_before(jiffies, until))
			cond_resched();
	if (!b->bufs)
		return;
	virtqueue_enable_cb(vq);	/* the host is slow: sleep until it is done */
	while (!wait_event_timeout(vb->acked, vbe_batch_done(vq, b),
				   VBE_ACK_WARN_SECS * HZ))
		dev_warn(&vb->vdev->dev, "host has not used %u %s buffers for %d s; still waiting\n",
			 b->bufs, vq->name, VBE_ACK_WARN_SECS);
}

/*
 * Put @b's PFNs on @vq, VBE_PFNS_MAX to a buffer, and kick once: the round
 * trip to the host is what costs, not the buffers. Does not wait.
 */
static void vbe_batch_send(struct vbe *vb, struct virtqueue *vq, struct vbe_batch *b)
{
	unsigned int done = 0, n;
	struct scatterlist sg;
	int err;

	vbe_kick_before_batch(vb, vq);
	while (done < b->num_pfns) {
		n = min_t(unsigned int, b->num_pfns - done, VBE_PFNS_MAX);
		sg_init_one(&sg, &b->pfns[done], sizeof(b->pfns[0]) * n);
		err = virtqueue_add_outbuf(vq, &sg, 1, b, GFP_KERNEL);
		if (err == -ENOSPC && b->bufs) {
			/* A small ring: let the host catch up, then go on. */
			virtqueue_kick(vq);
			vbe_batch_wait(vb, vq, b);
			continue;
		}
		if (err) {
			dev_err_ratelimited(&vb->vdev->dev, "cannot queue %u pfns on %s (error %d)\n",
					    n, vq->name, err);
			break;
		}
		b->bufs++;
		done += n;
	}
	vbe_kick(vb, vq);
}

/* Tell the host of @b's pages and wait until it has used them all. */
void vbe_batch_tell(struct vbe *vb, struct virtqueue *vq, struct vbe_batch *b)
{
	vbe_batch_send(vb, vq, b);
	vbe_batch_wait(vb, vq, b);
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

/*
 * Allocate up to @want guest pages onto @pages; returns how many. Never
 * sleeps to wait for memory: the caller does that without the lock.
 */
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
			break;
		}
		list_add(&page->lru, pages);
		got++;
	}
	return got;
}

/*
 * Inflate by up to @num 4 KiB pages, VBE_HOLD_BATCHES batches at most.
 * Batch n+1 is allocated while the host discards batch n. All under the
 * lock: a page is movable once in the balloon, and migration must not
 * tell the host of it before the host has used the inflate request.
 * The allocations cannot deadlock on the lock: they never reach the OOM
 * notifier (__GFP_NORETRY), migration and the auto-deflate shrinker only
 * try it. Returns the 4 KiB pages added.
 */
unsigned int vbe_fill(struct vbe *vb, size_t num)
{
	struct virtqueue *vq = vb->vqs[VBE_VQ_INFLATE];
	unsigned int added = 0, got = 0, want = 0, i;
	struct vbe_batch *b;
	struct page *page;
	LIST_HEAD(pages);

	mutex_lock(&vb->lock);
	vbe_irq_off(vb, vq);
	WRITE_ONCE(vb->filler, current);	/* see vbe_auto_count() */
	for (i = 0; i < VBE_HOLD_BATCHES && added < num && got == want; i++) {
		b = &vb->batch[i % 2];
		want = min_t(size_t, num - added, VBE_BATCH_PFNS) / VBE_PAGES_PER_PAGE;
		got = vbe_alloc_pages(vb, &pages, want);
		if (!got)
			break;
		vbe_batch_wait(vb, vq, b);	/* the batch before last */
		b->num_pfns = 0;
		list_for_each_entry(page, &pages, lru)
			vbe_batch_add(vb, b, page);
		bext_balloon_enqueue_list(&vb->balloon.info, &pages, !vb->deflate_on_oom);
		WRITE_ONCE(vb->num_pages, vb->num_pages + b->num_pfns);
		added += b->num_pfns;
		vbe_batch_send(vb, vq, b);
	}
	vbe_batch_wait(vb, vq, &vb->batch[0]);
	vbe_batch_wait(vb, vq, &vb->batch[1]);
	virtqueue_enable_cb(vq);
	WRITE_ONCE(vb->filler, NULL);
	atomic_long_add(added / VBE_PAGES_PER_PAGE, &vb->count.inflated);
	vbe_report_inflated(vb);
	mutex_unlock(&vb->lock);

	if (got < want)
		msleep(200);	/* give reclaim a moment before the size work retries */
	return added;
}

/* Wait until the host has used @b, then free the pages it held. */
static void vbe_batch_release(struct vbe *vb, struct virtqueue *vq, struct vbe_batch *b)
{
	struct page *page, *next;

	vbe_batch_wait(vb, vq, b);
	list_for_each_entry_safe(page, next, &b->pages, lru) {
		list_del(&page->lru);
		put_page(page);	/* the balloon's reference: back to the allocator */
	}
}

/*
 * Deflate by up to @num 4 KiB pages, VBE_HOLD_BATCHES batches at most;
 * batch n+1 is taken out of the balloon while the host works on batch n.
 * A batch's pages are freed only once the host has used its request, as
 * MUST_TELL_HOST requires. Returns the 4 KiB pages removed; fewer than
 * asked when pages are isolated for migration.
 */
unsigned int vbe_leak(struct vbe *vb, size_t num)
{
	struct virtqueue *vq = vb->vqs[VBE_VQ_DEFLATE];
	unsigned int removed = 0, i;
	struct vbe_batch *b;
	struct page *page;
	size_t n;

	mutex_lock(&vb->lock);
	vbe_irq_off(vb, vq);
	num = min_t(size_t, num, vb->num_pages);
	for (i = 0; i < VBE_HOLD_BATCHES && removed < num; i++) {
		b = &vb->batch[i % 2];
		vbe_batch_release(vb, vq, b);	/* the batch before last */
		n = min_t(size_t, num - removed, VBE_BATCH_PFNS) / VBE_PAGES_PER_PAGE;
		bext_balloon_dequeue_list(&vb->balloon.info, &b->pages, n,
					  !vb->deflate_on_oom);
		b->num_pfns = 0;
		list_for_each_entry(page, &b->pages, lru)
			vbe_batch_add(vb, b, page);
		if (!b->num_pfns)
			break;
		WRITE_ONCE(vb->num_pages, vb->num_pages - b->num_pfns);
		removed += b->num_pfns;
		vbe_batch_send(vb, vq, b);
	}
	vbe_batch_release(vb, vq, &vb->batch[0]);
	vbe_batch_release(vb, vq, &vb->batch[1]);
	virtqueue_enable_cb(vq);
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
