// SPDX-License-Identifier: GPL-2.0
/*
 * vmw_balloon_ext: a replacement for the in-tree vmw_balloon that reports
 * the ballooned amount to balloon_core, counts 2 MiB pages wherever the
 * kernel counts balloon pages, and gives every page back on unload.
 *
 * Like the in-tree driver, it loads only in a guest the kernel found to
 * be on VMware, and does all its work from one delayed work item that
 * runs each second (at once when the host rings the VMCI doorbell) on the
 * freezable workqueue, so that it stops over suspend and hibernation.
 */
#include <linux/debugfs.h>
#include <linux/jiffies.h>
#include <linux/module.h>
#include <linux/timer.h>
#include <asm/hypervisor.h>

#include "vmwb.h"

static struct vmwb balloon;

/* Where the host wants it, within the deflate slack of vmwb_change(). */
static bool vmwb_at_target(struct vmwb *b)
{
	long size = atomic64_read(&b->size), target = READ_ONCE(b->target);

	return size >= target && (!target ? !size : size - target < (long)vmwb_frames(VMWB_2M));
}

static void vmwb_work(struct work_struct *work)
{
	struct vmwb *b = container_of(to_delayed_work(work), struct vmwb, dwork);
	long change;

	if (READ_ONCE(b->reset_required))
		vmwb_reset(b);

	down_read(&b->conf_sem);
	atomic64_inc(&b->stats.stat[VMWB_STAT_TIMER]);
	vmwb_get_target(b);
	change = vmwb_change(b);
	if (change > 0) {
		vmwb_inflate(b);
	} else if (change < 0) {
		vmwb_deflate(b, 0, true, true);
		vmwb_report(b, BALLOON_CORE_HOST);
	}
	if (vmwb_at_target(b))
		vmwb_note_target_met(b);
	up_read(&b->conf_sem);

	if (!READ_ONCE(b->stopping))
		queue_delayed_work(system_freezable_wq, &b->dwork, round_jiffies_relative(HZ));
}

/* The in-tree driver holds the host: two drivers would reset each other. */
static bool vmwb_in_tree_loaded(void)
{
	struct dentry *d = debugfs_lookup("vmmemctl", NULL);

	if (IS_ERR_OR_NULL(d))
		return false;
	dput(d);
	return true;
}

static int __init vmwb_init(void)
{
	struct vmwb *b = &balloon;
	int err;

	if (x86_hyper_type != X86_HYPER_VMWARE)
		return -ENODEV;
	if (vmwb_in_tree_loaded()) {
		pr_err("another balloon driver (vmw_balloon?) holds the host; unload it first, or run 'balloon-ext takeover'\n");
		return -EBUSY;
	}

	INIT_LIST_HEAD(&b->huge_pages);
	spin_lock_init(&b->huge_lock);
	init_rwsem(&b->conf_sem);
	mutex_init(&b->comm_lock);
	mutex_init(&b->oom_lock);
	spin_lock_init(&b->pause_lock);
	spin_lock_init(&b->report_lock);
	INIT_DELAYED_WORK(&b->dwork, vmwb_work);
	b->doorbell = VMCI_INVALID_HANDLE;
	b->batch_max = 1;
	b->reset_required = true;

	err = bext_balloon_init(&b->balloon, vmwb_migratepage, false);
	if (err)
		return err;
	err = vmwb_source_register(b);
	if (err)
		goto fail_source;
	err = vmwb_pressure_init(b);
	if (err)
		goto fail_pressure;
	vmwb_debugfs_init(b);
	queue_delayed_work(system_freezable_wq, &b->dwork, 0);
	return 0;

fail_pressure:
	vmwb_source_unregister(b);
fail_source:
	bext_balloon_exit(&b->balloon);
	return err;
}

/* late_initcall, as in-tree, so that VMCI is up when both are built in. */
late_initcall(vmwb_init);

/*
 * Every page goes back. Those the host unlocks first, then START(0) makes
 * the host forget the rest, and they are freed without unlocking.
 */
static void __exit vmwb_exit(void)
{
	struct vmwb *b = &balloon;

	vmwb_pressure_exit(b);
	WRITE_ONCE(b->stopping, true);
	down_write(&b->conf_sem);
	vmwb_doorbell_cleanup(b);
	up_write(&b->conf_sem);
	cancel_delayed_work_sync(&b->dwork);
	vmwb_debugfs_exit();

	down_write(&b->conf_sem);
	if (!READ_ONCE(b->reset_required))
		vmwb_deflate(b, atomic64_read(&b->size), true, true);
	vmwb_stop_protocol(b);
	vmwb_pop(b);
	vmwb_disable_batching(b);
	up_write(&b->conf_sem);

	vmwb_source_unregister(b);
	bext_balloon_exit(&b->balloon);
}
module_exit(vmwb_exit);

MODULE_AUTHOR("balloon-ext developers");
MODULE_DESCRIPTION("VMware memory balloon that reports to balloon_core");
MODULE_LICENSE("GPL");
MODULE_VERSION(BALLOON_EXT_VERSION);
/* The in-tree driver's aliases: udev loads both; see packaging/modprobe.d. */
MODULE_ALIAS("dmi:*:svnVMware*:*");
MODULE_ALIAS("vmware_vmmemctl");
