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

/* Kick @vq and wait until the host has used its one buffer. */
void vbe_kick_and_wait(struct vbe *vb, struct virtqueue *vq)
{
	unsigned int len;

	virtqueue_kick(vq);
	while (!wait_event_timeout(vb->acked, virtqueue_get_buf(vq, &len),
				   VBE_ACK_WARN_SECS * HZ))
		dev_warn(&vb->vdev->dev, "host has not used the %s buffer for %d s; still waiting\n",
			 vq->name, VBE_ACK_WARN_SECS);
}

/* Send vb->pfns on @vq and wait until the host has used them. */
void vbe_tell_host(struct vbe *vb, struct virtqueue *vq)
{
	struct scatterlist sg;
	int err;

	sg_init_one(&sg, vb->pfns, sizeof(vb->pfns[0]) * vb->num_pfns);
	/* Requests go one at a time, so the queue always has room. */
	err = virtqueue_add_outbuf(vq, &sg, 1, vb, GFP_KERNEL);
	if (err) {
		dev_err_ratelimited(&vb->vdev->dev, "cannot queue %u pfns on %s (error %d)\n",
				    vb->num_pfns, vq->name, err);
		return;
	}
	vbe_kick_and_wait(vb, vq);
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
 * Inflate by up to @num 4 KiB pages, one request's worth. Pages are
 * allocated before taking the lock: allocation may reclaim for a while,
 * and migration needs the lock meanwhile. Returns the 4 KiB pages added.
 */
unsigned int vbe_fill(struct vbe *vb, size_t num)
{
	LIST_HEAD(pages);
	struct page *page;
	unsigned int added, i;

	num = min_t(size_t, num, VBE_PFNS_MAX);
	for (i = 0; i < num; i += VBE_PAGES_PER_PAGE) {
		page = balloon_page_alloc();
		if (!page) {
			atomic_long_inc(&vb->count.alloc_failures);
			dev_info_ratelimited(&vb->vdev->dev, "out of memory: got %u of %zu pages this round, will retry\n",
					     i, num);
			/* Give reclaim a moment before the size work retries. */
			msleep(200);
			break;
		}
		list_add(&page->lru, &pages);
	}
	if (list_empty(&pages))
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
 * Deflate by up to @num 4 KiB pages, one request's worth. The host hears
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
	num = min3(num, (size_t)VBE_PFNS_MAX, (size_t)vb->num_pages);
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

void vbe_size_work(struct work_struct *work)
{
	struct vbe *vb = container_of(work, struct vbe, size_work);
	s64 diff = vbe_towards_target(vb);

	if (diff > 0)
		diff -= vbe_fill(vb, diff);
	else if (diff < 0)
		diff += vbe_leak(vb, -diff);
	vbe_update_actual(vb);

	if (diff)
		queue_work(system_freezable_wq, work);
}
