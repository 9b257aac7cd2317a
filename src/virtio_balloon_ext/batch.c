// SPDX-License-Identifier: GPL-2.0
/*
 * Batches of PFNs on the inflate and deflate queues. Every caller owns its
 * batch (vbe.h), so the only shared state is the ring itself: ring_lock is
 * held to add or reap buffers, never across a notification, a wait for the
 * host or an allocation. The OOM notifier, the auto-deflate shrinker and
 * migration can therefore never wait behind an inflation.
 */
#include <linux/mm.h>
#include <linux/scatterlist.h>
#include <linux/virtio_config.h>

#include "vbe.h"

/* How long to wait for the host before saying in the log that it is late. */
#define VBE_ACK_WARN_SECS	30

int vbe_batches_init(struct vbe *vb)
{
	unsigned int i, max;

	/* The device counts 4 KiB pages whatever the guest's page size. */
	BUILD_BUG_ON(PAGE_SHIFT < VIRTIO_BALLOON_PFN_SHIFT);
	for (i = 0; i < ARRAY_SIZE(vb->batch); i++) {
		max = i == VBE_B_AUTO ? VBE_AUTO_PFNS : VBE_BATCH_PFNS;
		/* kmalloc, not vmalloc: the host reads them by physical address. */
		vb->batch[i].pfns = kmalloc_array(max, sizeof(__virtio32), GFP_KERNEL);
		if (!vb->batch[i].pfns) {
			vbe_batches_free(vb);
			return -ENOMEM;
		}
		vb->batch[i].max_pfns = max;
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

static void vbe_batch_add(struct vbe *vb, struct vbe_batch *b, struct page *page)
{
	unsigned long pfn = page_to_pfn(page) << (PAGE_SHIFT - VIRTIO_BALLOON_PFN_SHIFT);
	unsigned int i;

	for (i = 0; i < VBE_PAGES_PER_PAGE; i++)
		b->pfns[b->num_pfns++] = cpu_to_virtio32(vb->vdev, pfn + i);
}

/* Name @b's pages in its PFN array; returns the 4 KiB pages named. */
unsigned int vbe_batch_fill_pfns(struct vbe *vb, struct vbe_batch *b)
{
	struct page *page;

	b->num_pfns = 0;
	b->sent = 0;
	list_for_each_entry(page, &b->pages, lru)
		vbe_batch_add(vb, b, page);
	return b->num_pfns;
}

/* Name just @page in @b, for a page whose lru is not ours (migration). */
void vbe_batch_name_page(struct vbe *vb, struct vbe_batch *b, struct page *page)
{
	b->num_pfns = 0;
	b->sent = 0;
	vbe_batch_add(vb, b, page);
}

/*
 * Move the pages of @b whose PFNs were not sent onto @unsent. The sent
 * PFNs come first and in list order, whole guest pages at a time.
 */
void vbe_batch_unsent(struct vbe_batch *b, struct list_head *unsent)
{
	unsigned int keep = b->sent / VBE_PAGES_PER_PAGE, n = 0;
	struct page *page, *next;

	list_for_each_entry_safe(page, next, &b->pages, lru)
		if (n++ >= keep)
			list_move_tail(&page->lru, unsent);
	b->num_pfns = b->sent;
}

/* Take the buffers the host has used off @vq and credit each to its batch. */
static void vbe_reap(struct vbe *vb, struct virtqueue *vq)
{
	struct vbe_batch *owner;
	unsigned long flags;
	unsigned int len;

	spin_lock_irqsave(&vb->ring_lock, flags);
	while ((owner = virtqueue_get_buf(vq, &len))) {
		WRITE_ONCE(owner->bufs, owner->bufs - 1);
		vb->reaped++;
	}
	spin_unlock_irqrestore(&vb->ring_lock, flags);
}

/* The inflate and deflate queues' interrupt; reporting's shares it. */
void vbe_ack(struct virtqueue *vq)
{
	struct vbe *vb = vq->vdev->priv;

	if (vq == vb->vqs[VBE_VQ_INFLATE] || vq == vb->vqs[VBE_VQ_DEFLATE])
		vbe_reap(vb, vq);
	wake_up(&vb->acked);
}

bool vbe_batch_done(struct vbe *vb, struct virtqueue *vq, struct vbe_batch *b)
{
	vbe_reap(vb, vq);
	return !READ_ONCE(b->bufs);
}

void vbe_batch_wait(struct vbe *vb, struct virtqueue *vq, struct vbe_batch *b)
{
	while (!wait_event_timeout(vb->acked, vbe_batch_done(vb, vq, b),
				   VBE_ACK_WARN_SECS * HZ))
		dev_warn_ratelimited(&vb->vdev->dev, "host has not used %u %s buffers for %d s; still waiting\n",
				     READ_ONCE(b->bufs), vq->name, VBE_ACK_WARN_SECS);
}

static bool vbe_reaped_since(struct vbe *vb, struct virtqueue *vq,
			     unsigned long since)
{
	vbe_reap(vb, vq);
	return READ_ONCE(vb->reaped) != since;
}

/*
 * Put @b's PFNs from b->sent on, VBE_PFNS_MAX to a buffer, on @vq and
 * notify the host once. Never sleeps and never allocates, so any caller
 * may use it. Returns 0, or the error that stopped it with b->sent telling
 * how far it got: -ENOSPC while the ring is full.
 */
int vbe_batch_queue(struct vbe *vb, struct virtqueue *vq, struct vbe_batch *b)
{
	struct scatterlist sg;
	unsigned long flags;
	unsigned int n;
	bool notify;
	int err = 0;

	spin_lock_irqsave(&vb->ring_lock, flags);
	while (b->sent < b->num_pfns) {
		n = min_t(unsigned int, b->num_pfns - b->sent, VBE_PFNS_MAX);
		sg_init_one(&sg, &b->pfns[b->sent], sizeof(b->pfns[0]) * n);
		err = virtqueue_add_outbuf(vq, &sg, 1, b, GFP_NOWAIT);
		if (err)
			break;
		WRITE_ONCE(b->bufs, b->bufs + 1);
		b->sent += n;
	}
	notify = virtqueue_kick_prepare(vq);
	spin_unlock_irqrestore(&vb->ring_lock, flags);
	/* Outside the lock: some hosts do the work in the notifying vCPU. */
	if (notify)
		virtqueue_notify(vq);
	return err;
}

/*
 * Queue all of @b, waiting for room while the ring is full; returns the
 * PFNs queued. Fewer than b->num_pfns only when the queue refused a buffer
 * for another reason (a broken device): the caller rolls back the rest.
 */
unsigned int vbe_batch_send(struct vbe *vb, struct virtqueue *vq, struct vbe_batch *b)
{
	unsigned long since;
	int err;

	for (;;) {
		since = READ_ONCE(vb->reaped);
		err = vbe_batch_queue(vb, vq, b);
		if (err != -ENOSPC)
			break;
		/* A full ring has buffers in it: one of them comes back. */
		while (!wait_event_timeout(vb->acked, vbe_reaped_since(vb, vq, since),
					   VBE_ACK_WARN_SECS * HZ))
			dev_warn_ratelimited(&vb->vdev->dev, "%s is full and the host has used nothing for %d s; still waiting\n",
					     vq->name, VBE_ACK_WARN_SECS);
	}
	if (err) {
		atomic_long_inc(&vb->count.queue_errors);
		dev_err_ratelimited(&vb->vdev->dev, "cannot queue %u of %u pfns on %s (error %d); taking them back\n",
				    b->num_pfns - b->sent, b->num_pfns, vq->name, err);
	}
	return b->sent;
}

/* Take @vq's used buffers off it; true once @bufs are all back. */
static bool vbe_reaped_all(struct virtqueue *vq, unsigned int *bufs)
{
	unsigned int len;

	while (*bufs && virtqueue_get_buf(vq, &len))
		(*bufs)--;
	return !*bufs;
}

/* For the reporting queue: kick @vq and wait until the host used @bufs. */
void vbe_kick_and_wait(struct vbe *vb, struct virtqueue *vq, unsigned int bufs)
{
	virtqueue_kick(vq);
	while (!wait_event_timeout(vb->acked, vbe_reaped_all(vq, &bufs),
				   VBE_ACK_WARN_SECS * HZ))
		dev_warn_ratelimited(&vb->vdev->dev, "host has not used %u %s buffers for %d s; still waiting\n",
				     bufs, vq->name, VBE_ACK_WARN_SECS);
}
