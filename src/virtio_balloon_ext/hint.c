// SPDX-License-Identifier: GPL-2.0
/*
 * Free page hinting, for live migration: when the host asks (a new command
 * id in config space), hand it blocks of free memory it need not copy,
 * until it says stop. The blocks stay allocated until the host says it is
 * done, or until memory is short and the shrinker gives them back; the
 * guest may reuse them at any time, since the host tracks dirtied pages.
 */
#include <linux/gfp.h>
#include <linux/scatterlist.h>
#include <linux/virtio_config.h>

#include "vbe.h"

#define VBE_CONFIG_READ_CMD_ID	0
/* Only memory that is free right now: no reclaim, no reserves, no noise. */
#define VBE_HINT_GFP		(__GFP_NORETRY | __GFP_NOWARN | __GFP_NOMEMALLOC)

static u32 vbe_cmd_id_received(struct vbe *vb)
{
	if (test_and_clear_bit(VBE_CONFIG_READ_CMD_ID, &vb->config_read_bitmap))
		virtio_cread_le(vb->vdev, struct virtio_balloon_config,
				free_page_hint_cmd_id, &vb->cmd_id_received_cache);
	return vb->cmd_id_received_cache;
}

/* Drop the buffers the host has used; the blocks stay on our list. */
static void vbe_hint_reap(struct virtqueue *vq)
{
	unsigned int len;

	while (virtqueue_get_buf(vq, &len))
		;
}

static int vbe_send_cmd_id(struct vbe *vb, __virtio32 *cmd_id)
{
	struct virtqueue *vq = vb->vqs[VBE_VQ_FREE_PAGE];
	struct scatterlist sg;
	int err;

	vbe_hint_reap(vq);
	sg_init_one(&sg, cmd_id, sizeof(*cmd_id));
	err = virtqueue_add_outbuf(vq, &sg, 1, vb, GFP_KERNEL);
	if (err) {
		dev_warn_ratelimited(&vb->vdev->dev, "cannot send free page hint command %u (error %d)\n",
				     virtio32_to_cpu(vb->vdev, *cmd_id), err);
		return err;
	}
	virtqueue_kick(vq);
	return 0;
}

static int vbe_hint_one_block(struct vbe *vb)
{
	struct virtqueue *vq = vb->vqs[VBE_VQ_FREE_PAGE];
	struct scatterlist sg;
	struct page *page;
	int err;

	vbe_hint_reap(vq);
	/* Keep one slot free for the stop command. */
	if (vq->num_free <= 1)
		return -ENOSPC;
	page = vbe_fail_alloc(vb, VBE_HINT_ORDER) ? NULL :
	       alloc_pages(VBE_HINT_GFP, VBE_HINT_ORDER);
	if (!page)
		return -ENOMEM;
	sg_init_one(&sg, page_address(page), VBE_HINT_PAGES * PAGE_SIZE);
	err = virtqueue_add_inbuf(vq, &sg, 1, page_address(page), GFP_KERNEL);
	if (err) {
		__free_pages(page, VBE_HINT_ORDER);
		return err;
	}
	virtqueue_kick(vq);

	spin_lock_irq(&vb->hint_lock);
	list_add(&page->lru, &vb->hint_pages);
	vb->num_hint_blocks++;
	spin_unlock_irq(&vb->hint_lock);
	atomic_long_inc(&vb->count.hinted_blocks);
	return 0;
}

/* The host used a buffer, said something new, or the device is going away. */
static bool vbe_hint_may_go_on(struct vbe *vb)
{
	struct virtqueue *vq = vb->vqs[VBE_VQ_FREE_PAGE];

	vbe_hint_reap(vq);
	return vq->num_free > 1 ||
	       test_bit(VBE_CONFIG_READ_CMD_ID, &vb->config_read_bitmap) ||
	       READ_ONCE(vb->stop_update);
}

static void vbe_hint_run(struct vbe *vb, u32 cmd_id)
{
	int err;

	vb->cmd_id_active = cpu_to_virtio32(vb->vdev, cmd_id);
	if (vbe_send_cmd_id(vb, &vb->cmd_id_active))
		return;
	/*
	 * Until the host moves on or memory runs out. A full ring only means
	 * the host is behind: wait for it rather than stop hinting.
	 */
	while (vbe_cmd_id_received(vb) == cmd_id && !READ_ONCE(vb->stop_update)) {
		err = vbe_hint_one_block(vb);
		if (err == -ENOSPC)
			wait_event_timeout(vb->acked, vbe_hint_may_go_on(vb), HZ);
		else if (err)
			break;
	}
	vbe_send_cmd_id(vb, &vb->cmd_id_stop);
}

static void vbe_hint_work(struct work_struct *work)
{
	struct vbe *vb = container_of(work, struct vbe, hint_work);
	u32 cmd_id;

	if (READ_ONCE(vb->vqs_gone))
		return;	/* queued before a restore that failed */
	cmd_id = vbe_cmd_id_received(vb);

	if (cmd_id == VIRTIO_BALLOON_CMD_ID_DONE)
		vbe_hint_return(vb, ULONG_MAX);
	else if (cmd_id != VIRTIO_BALLOON_CMD_ID_STOP &&
		 cmd_id != virtio32_to_cpu(vb->vdev, vb->cmd_id_active))
		vbe_hint_run(vb, cmd_id);
}

/* Free up to @blocks hinted blocks; returns how many were freed. */
unsigned long vbe_hint_return(struct vbe *vb, unsigned long blocks)
{
	unsigned long freed = 0;
	struct page *page;

	spin_lock_irq(&vb->hint_lock);
	while (freed < blocks) {
		page = list_first_entry_or_null(&vb->hint_pages, struct page, lru);
		if (!page)
			break;
		list_del(&page->lru);
		__free_pages(page, VBE_HINT_ORDER);
		freed++;
	}
	vb->num_hint_blocks -= freed;
	spin_unlock_irq(&vb->hint_lock);
	return freed;
}

static unsigned long vbe_hint_count(struct shrinker *s, struct shrink_control *sc)
{
	struct vbe *vb = bext_shrinker_priv(s);

	return READ_ONCE(vb->num_hint_blocks) * VBE_HINT_PAGES;
}

static unsigned long vbe_hint_scan(struct shrinker *s, struct shrink_control *sc)
{
	struct vbe *vb = bext_shrinker_priv(s);

	return vbe_hint_return(vb, DIV_ROUND_UP(sc->nr_to_scan, VBE_HINT_PAGES)) *
	       VBE_HINT_PAGES;
}

/* Called with stop_lock held, from config_changed. */
void vbe_hint_config_changed(struct vbe *vb)
{
	set_bit(VBE_CONFIG_READ_CMD_ID, &vb->config_read_bitmap);
	queue_work(vb->hint_wq, &vb->hint_work);
	wake_up(&vb->acked);	/* a run waiting for room stops or goes on */
}

int vbe_hint_init(struct vbe *vb)
{
	unsigned int size = virtqueue_get_vring_size(vb->vqs[VBE_VQ_FREE_PAGE]);
	int err;

	/* One entry stays free for the stop command: hints need a second. */
	if (size < 2) {
		dev_err(&vb->vdev->dev, "free page hint queue holds %u entries, hinting needs 2\n",
			size);
		return -ENOSPC;
	}

	/*
	 * Unbound: a hint run is long and needs no particular CPU. It also
	 * names its kind, which 7.x requires (it warns on a workqueue that is
	 * neither WQ_UNBOUND nor the new WQ_PERCPU).
	 */
	vb->hint_wq = alloc_workqueue("virtio_balloon_ext_hint",
				      WQ_FREEZABLE | WQ_UNBOUND, 0);
	if (!vb->hint_wq)
		return -ENOMEM;
	INIT_WORK(&vb->hint_work, vbe_hint_work);
	vb->cmd_id_received_cache = VIRTIO_BALLOON_CMD_ID_STOP;
	vb->cmd_id_active = cpu_to_virtio32(vb->vdev, VIRTIO_BALLOON_CMD_ID_STOP);
	vb->cmd_id_stop = cpu_to_virtio32(vb->vdev, VIRTIO_BALLOON_CMD_ID_STOP);
	spin_lock_init(&vb->hint_lock);
	INIT_LIST_HEAD(&vb->hint_pages);

	/* Hinted blocks are free memory on loan: reclaim may take them back. */
	vb->shrinker = bext_shrinker_create(vbe_hint_count, vbe_hint_scan, vb,
					    "virtio_balloon_ext");
	if (IS_ERR(vb->shrinker)) {
		err = PTR_ERR(vb->shrinker);
		dev_err(&vb->vdev->dev, "cannot register the free page hint shrinker (error %d)\n",
			err);
		destroy_workqueue(vb->hint_wq);
		return err;
	}
	return 0;
}

/* After stop_update is set: no new hint work can be queued. */
void vbe_hint_exit(struct vbe *vb)
{
	bext_shrinker_destroy(vb->shrinker);
	cancel_work_sync(&vb->hint_work);
	destroy_workqueue(vb->hint_wq);
}
