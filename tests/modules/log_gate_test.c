// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only module: makes the kernel log the reports the harness's kernel
 * log gate must catch (tests/test_log_gate.py).
 *
 *   insmod log_gate_test.ko trigger=warn    a WARN (panics under panic_on_warn)
 *   insmod log_gate_test.ko trigger=atomic  a sleep with bottom halves off:
 *					     "BUG: scheduling while atomic"
 *   insmod log_gate_test.ko trigger=stack   a bare dump_stack(), then loads
 *
 * The sleep uses local_bh_disable() because the softirq count is kept in
 * preempt_count on every kernel, with or without CONFIG_PREEMPT_COUNT.
 */
#include <linux/bottom_half.h>
#include <linux/bug.h>
#include <linux/delay.h>
#include <linux/module.h>
#include <linux/printk.h>
#include <linux/string.h>

static char *trigger = "";
module_param(trigger, charp, 0444);
MODULE_PARM_DESC(trigger, "warn, atomic or stack");

static int __init log_gate_test_init(void)
{
	if (!strcmp(trigger, "warn")) {
		WARN(1, "log_gate_test: a warning on request\n");
	} else if (!strcmp(trigger, "atomic")) {
		local_bh_disable();
		msleep(20);
		local_bh_enable();
	} else if (!strcmp(trigger, "stack")) {
		pr_info("a stack dump on request\n");
		dump_stack();
	} else {
		pr_err("trigger '%s' is none of warn, atomic, stack\n", trigger);
		return -EINVAL;
	}
	return 0;
}

static void __exit log_gate_test_exit(void)
{
}

module_init(log_gate_test_init);
module_exit(log_gate_test_exit);
MODULE_DESCRIPTION("balloon-ext test: reports for the kernel log gate");
MODULE_LICENSE("GPL");
