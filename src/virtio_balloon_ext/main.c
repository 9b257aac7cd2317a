// SPDX-License-Identifier: GPL-2.0
/*
 * virtio_balloon_ext: a driver for the virtio memory balloon (device ID 5)
 * that reports the ballooned amount to balloon_core, so it shows in
 * /proc/meminfo, sysfs and every OOM report. This file negotiates features
 * and runs the device's life: probe, remove, freeze and restore.
 */
#include <linux/module.h>
#include <linux/poison.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include "vbe.h"

static const struct virtio_device_id id_table[] = {
	{ VIRTIO_ID_BALLOON, VIRTIO_DEV_ANY_ID },
	{ 0 },
};

static unsigned int features[] = {
	VIRTIO_BALLOON_F_MUST_TELL_HOST,
	VIRTIO_BALLOON_F_STATS_VQ,
	VIRTIO_BALLOON_F_DEFLATE_ON_OOM,
	VIRTIO_BALLOON_F_FREE_PAGE_HINT,
	VIRTIO_BALLOON_F_PAGE_POISON,
	VIRTIO_BALLOON_F_REPORTING,
};

/* Drop the features this guest cannot honour, before they are agreed. */
static int vbe_validate(struct virtio_device *vdev)
{
	/*
	 * Free page reporting adds up to 32 entries at once with GFP_NOWAIT,
	 * which must not need an indirect table allocated (as in-tree).
	 */
	__virtio_clear_bit(vdev, VIRTIO_RING_F_INDIRECT_DESC);
	/*
	 * Free pages hold a pattern only if the guest poisons or zeroes them
	 * on free. If it does, reported pages must come back with that
	 * pattern, which only a host that knows PAGE_POISON guarantees.
	 */
	if (!want_init_on_free() && !page_poisoning_enabled_static())
		__virtio_clear_bit(vdev, VIRTIO_BALLOON_F_PAGE_POISON);
	else if (!virtio_has_feature(vdev, VIRTIO_BALLOON_F_PAGE_POISON))
		__virtio_clear_bit(vdev, VIRTIO_BALLOON_F_REPORTING);
	/* PFNs are guest-physical addresses, never IOMMU addresses. */
	__virtio_clear_bit(vdev, VIRTIO_F_ACCESS_PLATFORM);
	return 0;
}

static void vbe_config_changed(struct virtio_device *vdev)
{
	struct vbe *vb = vdev->priv;
	unsigned long flags;

	spin_lock_irqsave(&vb->stop_lock, flags);
	if (!vb->stop_update) {
		vbe_wake_hold(vb, VBE_WAKE_SIZE);
		queue_work(system_freezable_wq, &vb->size_work);
		if (vbe_has(vb, VIRTIO_BALLOON_F_FREE_PAGE_HINT))
			vbe_hint_config_changed(vb);
	}
	spin_unlock_irqrestore(&vb->stop_lock, flags);
}

static int vbe_init_vqs(struct vbe *vb)
{
	struct virtqueue_info info[VBE_VQ_MAX] = {
		[VBE_VQ_INFLATE] = { .name = "inflate", .callback = vbe_ack },
		[VBE_VQ_DEFLATE] = { .name = "deflate", .callback = vbe_ack },
	};
	int err;

	/* A queue without a name is not created, as its feature is off. */
	if (vbe_has(vb, VIRTIO_BALLOON_F_STATS_VQ))
		info[VBE_VQ_STATS] = (struct virtqueue_info){
			.name = "stats", .callback = vbe_stats_request };
	if (vbe_has(vb, VIRTIO_BALLOON_F_FREE_PAGE_HINT))
		info[VBE_VQ_FREE_PAGE] = (struct virtqueue_info){
			.name = "free_page_vq", .callback = vbe_ack };
	if (vbe_has(vb, VIRTIO_BALLOON_F_REPORTING))
		info[VBE_VQ_REPORTING] = (struct virtqueue_info){
			.name = "reporting_vq", .callback = vbe_ack };

	err = bext_find_vqs(vb->vdev, VBE_VQ_MAX, vb->vqs, info);
	if (err) {
		dev_err(&vb->vdev->dev, "cannot set up virtqueues (error %d)\n", err);
		return err;
	}
	if (vbe_has(vb, VIRTIO_BALLOON_F_STATS_VQ)) {
		err = vbe_stats_start(vb);
		if (err) {
			/* The stats buffer may be on its queue: reset first. */
			virtio_reset_device(vb->vdev);
			vb->vdev->config->del_vqs(vb->vdev);
			return err;
		}
	}
	return 0;
}

/* Tell the host which pattern freed pages hold: 0 means zeroed. */
static void vbe_set_poison(struct vbe *vb)
{
	u32 poison_val = 0;

	if (!want_init_on_free())
		memset(&poison_val, PAGE_POISON, sizeof(poison_val));
	virtio_cwrite_le(vb->vdev, struct virtio_balloon_config, poison_val,
			 &poison_val);
}

static int vbe_start_reporting(struct vbe *vb)
{
	int err = vbe_reporting_register(vb);

	/* Only one device in the system may report; the balloon works without. */
	if (err == -EBUSY) {
		dev_warn(&vb->vdev->dev, "free page reporting belongs to another device; this balloon will not report\n");
		return 0;
	}
	if (err)
		return err;
	vb->reporting = true;
	return 0;
}

/*
 * The OOM notifier and page reporting run outside our work items, at any
 * time: they are registered only while the virtqueues exist.
 */
static int vbe_start_callers(struct vbe *vb)
{
	int err;

	if (vb->deflate_on_oom) {
		err = vbe_oom_register(vb);
		if (err)
			return err;
	}
	if (vbe_has(vb, VIRTIO_BALLOON_F_REPORTING)) {
		err = vbe_start_reporting(vb);
		if (err)
			goto err_oom;
	}
	err = vbe_auto_deflate_start(vb);
	if (err)
		goto err_reporting;
	return 0;

err_reporting:
	if (vb->reporting) {
		vbe_reporting_unregister(vb);
		vb->reporting = false;
	}
err_oom:
	if (vb->deflate_on_oom)
		vbe_oom_unregister(vb);
	return err;
}

static void vbe_stop_callers(struct vbe *vb)
{
	vbe_auto_deflate_stop(vb);
	if (vb->reporting) {
		vbe_reporting_unregister(vb);
		vb->reporting = false;
	}
	if (vb->deflate_on_oom)
		vbe_oom_unregister(vb);
}

/* Give every page back, tell the host, then reset the device. */
static void vbe_empty(struct vbe *vb, enum balloon_core_reason why)
{
	if (vb->vqs_gone)
		return;	/* a failed restore: the balloon was emptied at freeze */
	while (vbe_num_pages(vb)) {
		vbe_leak(vb, &vb->batch[VBE_B_SIZE], vbe_num_pages(vb), why);
		cond_resched();	/* pages isolated for migration come back soon */
	}
	/* The shrinker's last request may still be on the queue. */
	vbe_batch_wait(vb, vb->vqs[VBE_VQ_DEFLATE], &vb->batch[VBE_B_AUTO]);
	vbe_update_actual(vb);
	if (vbe_has(vb, VIRTIO_BALLOON_F_FREE_PAGE_HINT))
		vbe_hint_return(vb, ULONG_MAX);
	virtio_reset_device(vb->vdev);
	vb->vdev->config->del_vqs(vb->vdev);
}

static int vbe_probe(struct virtio_device *vdev)
{
	struct vbe *vb;
	int err;

	if (!vdev->config->get) {
		dev_err(&vdev->dev, "the transport gives no access to config space\n");
		return -EINVAL;
	}
	vb = kzalloc(sizeof(*vb), GFP_KERNEL);
	if (!vb)
		return -ENOMEM;
	if (vbe_batches_init(vb)) {
		kfree(vb);
		return -ENOMEM;
	}
	vdev->priv = vb;
	vb->vdev = vdev;
	INIT_WORK(&vb->size_work, vbe_size_work);
	INIT_DELAYED_WORK(&vb->resume_work, vbe_resume_work);
	spin_lock_init(&vb->pause_lock);
	INIT_WORK(&vb->stats_work, vbe_stats_work);
	spin_lock_init(&vb->stop_lock);
	spin_lock_init(&vb->ring_lock);
	spin_lock_init(&vb->report_lock);
	mutex_init(&vb->oom_lock);
	mutex_init(&vb->auto_lock);
	mutex_init(&vb->migrate_lock);
	init_waitqueue_head(&vb->acked);
	vb->deflate_on_oom = vbe_has(vb, VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
	err = bext_balloon_init(&vb->balloon, vbe_migratepage, !vb->deflate_on_oom);
	if (err) {
		dev_err(&vdev->dev, "cannot set up balloon page migration (error %d)\n", err);
		goto err_free;
	}
	err = vbe_source_register(vb);
	if (err)
		goto err_balloon;
	err = vbe_wake_init(vb);
	if (err)
		goto err_source;

	err = vbe_init_vqs(vb);
	if (err)
		goto err_wake;
	if (vbe_has(vb, VIRTIO_BALLOON_F_FREE_PAGE_HINT)) {
		err = vbe_hint_init(vb);
		if (err)
			goto err_del_vqs;
	}
	if (vbe_has(vb, VIRTIO_BALLOON_F_PAGE_POISON))
		vbe_set_poison(vb);
	err = vbe_start_callers(vb);
	if (err)
		goto err_hint;
	vbe_debugfs_add(vb);

	virtio_device_ready(vdev);
	vbe_stats_kick(vb);
	if (vbe_towards_target(vb))
		vbe_config_changed(vdev);
	dev_info(&vdev->dev, "ballooned memory shows as %s\n",
		 vb->deflate_on_oom ? "InflatedFree" : "InflatedTotal");
	return 0;

err_hint:
	if (vbe_has(vb, VIRTIO_BALLOON_F_FREE_PAGE_HINT))
		vbe_hint_exit(vb);
err_del_vqs:
	virtio_reset_device(vdev);
	vdev->config->del_vqs(vdev);
err_wake:
	vbe_wake_exit(vb);
err_source:
	vbe_source_unregister(vb);
err_balloon:
	bext_balloon_exit(&vb->balloon);
err_free:
	vbe_batches_free(vb);
	kfree(vb);
	return err;
}

static void vbe_remove(struct virtio_device *vdev)
{
	struct vbe *vb = vdev->priv;

	vbe_debugfs_remove(vb);
	vbe_stop_callers(vb);

	spin_lock_irq(&vb->stop_lock);
	vb->stop_update = true;
	spin_unlock_irq(&vb->stop_lock);
	wake_up(&vb->acked);	/* a hint run waiting for the host stops */
	cancel_work_sync(&vb->size_work);
	cancel_delayed_work_sync(&vb->resume_work);
	cancel_work_sync(&vb->stats_work);
	if (vbe_has(vb, VIRTIO_BALLOON_F_FREE_PAGE_HINT))
		vbe_hint_exit(vb);

	vbe_empty(vb, BALLOON_CORE_REMOVE);
	vbe_source_unregister(vb);
	vbe_wake_exit(vb);
	bext_balloon_exit(&vb->balloon);
	dev_info(&vdev->dev, "balloon emptied, device released\n");
	vbe_batches_free(vb);
	kfree(vb);
}

#ifdef CONFIG_PM_SLEEP
static int vbe_freeze(struct virtio_device *vdev)
{
	struct vbe *vb = vdev->priv;

	/* The PM core froze our work items; the other callers go by hand. */
	vbe_stop_callers(vb);
	vbe_empty(vb, BALLOON_CORE_RESET);
	return 0;
}

static int vbe_restore(struct virtio_device *vdev)
{
	struct vbe *vb = vdev->priv;
	int err;

	err = vbe_init_vqs(vb);
	if (err)
		goto err_dead;
	/* The reset before freeze cleared what the host knew of our pages. */
	if (vbe_has(vb, VIRTIO_BALLOON_F_PAGE_POISON))
		vbe_set_poison(vb);
	err = vbe_start_callers(vb);
	if (err) {
		virtio_reset_device(vdev);
		vdev->config->del_vqs(vdev);
		goto err_dead;
	}
	virtio_device_ready(vdev);
	vbe_stats_kick(vb);
	if (vbe_towards_target(vb))
		vbe_config_changed(vdev);
	vbe_update_actual(vb);
	return 0;

err_dead:
	/* No queues now: remove must not touch them, nor any work run. */
	vb->vqs_gone = true;
	spin_lock_irq(&vb->stop_lock);
	vb->stop_update = true;
	spin_unlock_irq(&vb->stop_lock);
	dev_err(&vdev->dev, "cannot restore the balloon (error %d); it stays empty until rebound\n",
		err);
	return err;
}
#endif

static struct virtio_driver vbe_driver = {
	.feature_table = features,
	.feature_table_size = ARRAY_SIZE(features),
	.driver.name = KBUILD_MODNAME,
	/* Up to 6.9 only this links the driver to its module in sysfs. */
	.driver.owner = THIS_MODULE,
	.id_table = id_table,
	.validate = vbe_validate,
	.probe = vbe_probe,
	.remove = vbe_remove,
	.config_changed = vbe_config_changed,
#ifdef CONFIG_PM_SLEEP
	.freeze = vbe_freeze,
	.restore = vbe_restore,
#endif
};

module_virtio_driver(vbe_driver);
MODULE_DEVICE_TABLE(virtio, id_table);
MODULE_DESCRIPTION("Virtio memory balloon that reports to balloon_core");
MODULE_LICENSE("GPL");
MODULE_VERSION(BALLOON_EXT_VERSION);
