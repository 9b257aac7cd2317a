// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only module: drives the balloon_core API from inside a guest.
 *
 *   /sys/module/balloon_core_test/parameters/total   write: set InflatedTotal
 *   /sys/module/balloon_core_test/parameters/free    write: set InflatedFree
 *   /sys/module/balloon_core_test/parameters/nested_sysrq  write a key: run
 *	SysRq with that key from inside a kprobe handler of this module, where
 *	the kprobes core must count any probe it hits as missed
 *
 * Reads return what the getters say.
 */
#include <linux/kprobes.h>
#include <linux/module.h>
#include <linux/sysrq.h>

#include "balloon_core.h"

static int param_set_long_via(const char *val, void (*set)(long))
{
	long kb;
	int err;

	err = kstrtol(val, 0, &kb);
	if (err)
		return err;
	set(kb);
	return 0;
}

static int total_set(const char *val, const struct kernel_param *kp)
{
	return param_set_long_via(val, balloon_set_inflated_total);
}

static int total_get(char *buf, const struct kernel_param *kp)
{
	return scnprintf(buf, PAGE_SIZE, "%ld\n", balloon_get_inflated_total());
}

static int free_set(const char *val, const struct kernel_param *kp)
{
	return param_set_long_via(val, balloon_set_inflated_free);
}

static int free_get(char *buf, const struct kernel_param *kp)
{
	return scnprintf(buf, PAGE_SIZE, "%ld\n", balloon_get_inflated_free());
}

static const struct kernel_param_ops total_ops = {
	.set = total_set,
	.get = total_get,
};

static const struct kernel_param_ops free_ops = {
	.set = free_set,
	.get = free_get,
};

module_param_cb(total, &total_ops, NULL, 0644);
MODULE_PARM_DESC(total, "InflatedTotal in kB: write to set");
module_param_cb(free, &free_ops, NULL, 0644);
MODULE_PARM_DESC(free, "InflatedFree in kB: write to set");

static int nested_key;
static unsigned long nested_calls;

/* The probed function; the store keeps the call from being optimized out. */
static noinline void nested_target(void)
{
	WRITE_ONCE(nested_calls, nested_calls + 1);
}

static int nested_pre(struct kprobe *p, struct pt_regs *regs)
{
	/* handle_sysrq() is made for interrupts: fine with preemption off. */
	handle_sysrq(nested_key);
	return 0;
}

/* Parameter writes are serialized (kernel_param_lock), so one probe will do. */
static struct kprobe nested_probe;

static int nested_sysrq_set(const char *val, const struct kernel_param *kp)
{
	size_t len = strlen(val);
	int err;

	if (len && val[len - 1] == '\n')
		len--;
	if (len != 1)
		return -EINVAL;
	nested_key = val[0];
	memset(&nested_probe, 0, sizeof(nested_probe));
	nested_probe.addr = (kprobe_opcode_t *)nested_target;
	nested_probe.pre_handler = nested_pre;
	err = register_kprobe(&nested_probe);
	if (err)
		return err;
	nested_target();
	unregister_kprobe(&nested_probe);
	return 0;
}

static const struct kernel_param_ops nested_sysrq_ops = {
	.set = nested_sysrq_set,
};

module_param_cb(nested_sysrq, &nested_sysrq_ops, NULL, 0200);
MODULE_PARM_DESC(nested_sysrq, "Write a SysRq key: run it from inside a kprobe handler");

MODULE_DESCRIPTION("balloon_core test driver (tests only)");
MODULE_LICENSE("GPL");
