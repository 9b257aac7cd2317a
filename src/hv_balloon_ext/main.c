// SPDX-License-Identifier: GPL-2.0
/*
 * hv_balloon_ext: the module, its parameters, and the VMBus driver for
 * the Dynamic Memory device (probe, remove, suspend, resume).
 */
#include <linux/hyperv.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <asm/mshyperv.h>

#include "hvb.h"

struct hvb hvb_dev;

/* The in-tree parameters, with the in-tree semantics. */
bool hvb_hot_add_param = true;
module_param_named(hot_add, hvb_hot_add_param, bool, 0644);
MODULE_PARM_DESC(hot_add, "If set attempt memory hot_add");

uint hvb_pressure_report_delay = 45;
module_param_named(pressure_report_delay, hvb_pressure_report_delay, uint, 0644);
MODULE_PARM_DESC(pressure_report_delay, "Delay in secs in reporting pressure");

static void hvb_stop(struct hvb *b)
{
	hvb_set_connected(b, false);	/* the callback queues no more work */
	cancel_delayed_work_sync(&b->status_work);
	cancel_work_sync(&b->up_work);
	cancel_work_sync(&b->down_work);
	cancel_work_sync(&b->ha_work);
	hvb_channel_close(b);
	hvb_drop_pending(b);
}

static void hvb_start(struct hvb *b)
{
	b->last_post = jiffies - HZ;
	schedule_delayed_work(&b->status_work, HZ);
}

static void hvb_free(struct hvb *b)
{
	if (b->wq)
		destroy_workqueue(b->wq);
	b->wq = NULL;
	kfree(b->recv_buf);
	b->recv_buf = NULL;
	kfree(b->send_buf);
	b->send_buf = NULL;
	b->hdev = NULL;
}

static int hvb_probe(struct hv_device *hdev, const struct hv_vmbus_device_id *id)
{
	struct hvb *b = &hvb_dev;
	int ret;

	if (b->hdev)
		return -EBUSY;
	b->hdev = hdev;
	hv_set_drvdata(hdev, b);
	b->state = HVB_INITIALIZING;
	b->version = 0;
	b->max_dynamic_page_count = 0;

	/* As in-tree: with S4 the host's requests are ignored, no hot-add. */
	b->hibernation = hv_is_hibernation_supported();
	if (b->hibernation)
		hvb_hot_add_param = false;
	b->do_hot_add = hvb_hot_add_param;

	ret = -ENOMEM;
	b->recv_buf = kmalloc(HVB_RECV_BUF, GFP_KERNEL);
	b->send_buf = kmalloc(HVB_MSG_MAX, GFP_KERNEL);
	b->wq = alloc_ordered_workqueue("hv_balloon_ext", 0);
	if (!b->recv_buf || !b->send_buf || !b->wq)
		goto err_free;

	if (b->do_hot_add && !hvb_ha_installed) {
		ret = hvb_hotadd_init();
		if (ret)
			goto err_free;
	}
	if (!hvb_hotadd_can_add())
		b->do_hot_add = false;

	ret = hvb_source_register(b);
	if (ret)
		goto err_hotadd;
	ret = hvb_connect(b);
	if (ret)
		goto err_source;

	hvb_reporting_enable();
	hvb_start(b);
	hvb_debugfs_init(b);
	hvb_report(b, BALLOON_CORE_OTHER);
	return 0;

err_source:
	hvb_source_unregister(b);
err_hotadd:
	hvb_hotadd_exit(false);
err_free:
	hvb_free(b);
	return ret;
}

/*
 * Give every page back and stop. The host is told nothing: the protocol
 * has no message for a guest that returns pages on its own; it sees the
 * channel close, and a new session (rebind, reload) starts from an empty
 * balloon on both sides.
 */
static void hvb_remove_device(struct hv_device *hdev)
{
	struct hvb *b = hv_get_drvdata(hdev);

	hvb_debugfs_exit(b);
	hvb_reporting_exit();
	hvb_stop(b);
	hvb_give_back_all(b, BALLOON_CORE_REMOVE);
	hvb_source_unregister(b);
	/* Hot-add parts stay while added memory has unbacked pages. */
	hvb_hotadd_exit(false);
	hvb_free(b);
}

#ifdef BEXT_HAVE_HV_DRIVER_REMOVE_VOID
static void hvb_remove(struct hv_device *hdev)
{
	hvb_remove_device(hdev);
}
#else
static int hvb_remove(struct hv_device *hdev)
{
	hvb_remove_device(hdev);
	return 0;
}
#endif

/*
 * Hibernation: stop talking, close the channel. Pages are given back, as
 * the host that answers after resume starts a new session; in
 * hibernation mode (the only one in which the kernel hibernates on
 * Hyper-V) the balloon is empty anyway.
 */
static int hvb_suspend(struct hv_device *hdev)
{
	struct hvb *b = hv_get_drvdata(hdev);

	hvb_stop(b);
	hvb_give_back_all(b, BALLOON_CORE_RESET);
	WRITE_ONCE(b->state, HVB_INITIALIZING);
	return 0;
}

static int hvb_resume(struct hv_device *hdev)
{
	struct hvb *b = hv_get_drvdata(hdev);
	int ret;

	ret = hvb_connect(b);
	if (ret) {
		pr_err("reconnecting after resume failed: %d\n", ret);
		hvb_reporting_exit();
		return ret;
	}
	hvb_start(b);
	return 0;
}

static const struct hv_vmbus_device_id hvb_id_table[] = {
	{ HV_DM_GUID, },
	{ },
};
MODULE_DEVICE_TABLE(vmbus, hvb_id_table);

static struct hv_driver hvb_driver = {
	.name = "hv_balloon_ext",
	.id_table = hvb_id_table,
	.probe = hvb_probe,
	.remove = hvb_remove,
	.suspend = hvb_suspend,
	.resume = hvb_resume,
	.driver = {
		.probe_type = PROBE_PREFER_ASYNCHRONOUS,
	},
};

static int __init hvb_init(void)
{
	struct hvb *b = &hvb_dev;

	spin_lock_init(&b->req_lock);
	INIT_LIST_HEAD(&b->down_msgs);
	INIT_LIST_HEAD(&b->pages);
	init_completion(&b->host_event);
	INIT_WORK(&b->up_work, hvb_balloon_up_work);
	INIT_WORK(&b->down_work, hvb_balloon_down_work);
	INIT_WORK(&b->ha_work, hvb_hot_add_work);
	INIT_DELAYED_WORK(&b->status_work, hvb_status_work);
	/* Off Hyper-V there is no VMBus: this fails with -ENODEV. */
	return hvb_driver_register(&hvb_driver);
}
module_init(hvb_init);

static void __exit hvb_exit(void)
{
	hvb_driver_unregister(&hvb_driver);
	hvb_hotadd_exit(true);
}
module_exit(hvb_exit);

MODULE_DESCRIPTION("Hyper-V Dynamic Memory guest, reporting to balloon_core");
MODULE_AUTHOR("balloon-ext developers");
MODULE_LICENSE("GPL");
MODULE_VERSION(BALLOON_EXT_VERSION);
