// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only module: two balloon_core sources, driven from inside a guest.
 *
 *   insmod balloon_core_sources_test.ko [name_a=...] [name_b=...]
 *	registers both sources at load; a refused name fails the load with
 *	balloon_core's error
 *   /sys/module/balloon_core_sources_test/parameters/report
 *	write "<a|b> <total_kb> <free_kb> <reason> <process|irqoff|raw|timer>":
 *	balloon_core_report() from process context, from under a spinlock
 *	with interrupts off, from under a raw spinlock (a spinning lock even
 *	on PREEMPT_RT), or from a timer (softirq); the write returns once the
 *	report is made
 *   .../parameters/target	write "<a|b> <target_kb>"
 *
 * Unloading unregisters both sources.
 */
#include <linux/completion.h>
#include <linux/err.h>
#include <linux/module.h>
#include <linux/rcupdate.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/timer.h>

#include "balloon_core.h"

static char *name_a = "test-a";
module_param(name_a, charp, 0444);
MODULE_PARM_DESC(name_a, "Name of the first source");
static char *name_b = "test-b";
module_param(name_b, charp, 0444);
MODULE_PARM_DESC(name_b, "Name of the second source");

static struct balloon_core_source *sources[2];
static DEFINE_SPINLOCK(irqoff_lock);
static DEFINE_RAW_SPINLOCK(raw_lock);

static const char *const reasons[BALLOON_CORE_NR_REASONS] = {
	[BALLOON_CORE_HOST] = "host",
	[BALLOON_CORE_OOM] = "oom",
	[BALLOON_CORE_PRESSURE] = "pressure",
	[BALLOON_CORE_MIGRATION] = "migration",
	[BALLOON_CORE_RESET] = "reset",
	[BALLOON_CORE_REMOVE] = "remove",
	[BALLOON_CORE_OTHER] = "other",
};

/*
 * One timed report at a time: parameter writes are serialized by
 * kernel_param_lock, and each waits until its report is made.
 */
static struct {
	struct timer_list timer;
	struct completion done;
	struct balloon_core_source *src;
	long total_kb, free_kb;
	enum balloon_core_reason why;
} timed;

static void timed_report_fn(struct timer_list *t)
{
	balloon_core_report(timed.src, timed.total_kb, timed.free_kb, timed.why);
	complete(&timed.done);
}

static void report_from_timer(struct balloon_core_source *src, long total_kb, long free_kb,
			      enum balloon_core_reason why)
{
	timed.src = src;
	timed.total_kb = total_kb;
	timed.free_kb = free_kb;
	timed.why = why;
	reinit_completion(&timed.done);
	mod_timer(&timed.timer, jiffies + 1);
	wait_for_completion(&timed.done);
}

static struct balloon_core_source *which(const char *letter)
{
	if (!strcmp(letter, "a"))
		return sources[0];
	if (!strcmp(letter, "b"))
		return sources[1];
	return NULL;
}

static int report_set(const char *val, const struct kernel_param *kp)
{
	char letter[2], reason[16], context[8];
	struct balloon_core_source *src;
	unsigned long flags;
	long total, free;
	int why;

	if (sscanf(val, "%1s %ld %ld %15s %7s", letter, &total, &free, reason, context) != 5)
		return -EINVAL;
	src = which(letter);
	why = match_string(reasons, ARRAY_SIZE(reasons), reason);
	if (!src || why < 0)
		return -EINVAL;
	if (!strcmp(context, "process")) {
		balloon_core_report(src, total, free, why);
	} else if (!strcmp(context, "irqoff")) {
		spin_lock_irqsave(&irqoff_lock, flags);
		balloon_core_report(src, total, free, why);
		spin_unlock_irqrestore(&irqoff_lock, flags);
	} else if (!strcmp(context, "raw")) {
		raw_spin_lock_irqsave(&raw_lock, flags);
		balloon_core_report(src, total, free, why);
		raw_spin_unlock_irqrestore(&raw_lock, flags);
	} else if (!strcmp(context, "timer")) {
		report_from_timer(src, total, free, why);
	} else {
		return -EINVAL;
	}
	return 0;
}

static int target_set(const char *val, const struct kernel_param *kp)
{
	struct balloon_core_source *src;
	char letter[2];
	long target;

	if (sscanf(val, "%1s %ld", letter, &target) != 2)
		return -EINVAL;
	src = which(letter);
	if (!src)
		return -EINVAL;
	balloon_core_set_target(src, target);
	return 0;
}

static const struct kernel_param_ops report_ops = { .set = report_set };
static const struct kernel_param_ops target_ops = { .set = target_set };
module_param_cb(report, &report_ops, NULL, 0200);
MODULE_PARM_DESC(report, "\"<a|b> <total_kb> <free_kb> <reason> <process|irqoff|raw|timer>\"");
module_param_cb(target, &target_ops, NULL, 0200);
MODULE_PARM_DESC(target, "\"<a|b> <target_kb>\"");

static int __init sources_test_init(void)
{
	timer_setup(&timed.timer, timed_report_fn, 0);
	init_completion(&timed.done);
	sources[0] = balloon_core_register(name_a);
	if (IS_ERR(sources[0]))
		return PTR_ERR(sources[0]);
	sources[1] = balloon_core_register(name_b);
	if (IS_ERR(sources[1])) {
		balloon_core_unregister(sources[0]);
		return PTR_ERR(sources[1]);
	}
	return 0;
}

static void __exit sources_test_exit(void)
{
	/*
	 * The timer is never pending here (each write waited for its report),
	 * but its function may still be returning: it runs with preemption
	 * off, which synchronize_rcu() waits out. del_timer_sync() would do,
	 * but is timer_delete_sync() on newer kernels, and this module has no
	 * compat header.
	 */
	synchronize_rcu();
	balloon_core_unregister(sources[1]);
	balloon_core_unregister(sources[0]);
}

module_init(sources_test_init);
module_exit(sources_test_exit);

MODULE_DESCRIPTION("balloon_core sources test driver (tests only)");
MODULE_LICENSE("GPL");
