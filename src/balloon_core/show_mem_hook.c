// SPDX-License-Identifier: GPL-2.0
/*
 * Print the balloon line, and the history line after it, at the end of
 * every show_mem() report: the OOM killer's report, allocation failure
 * warnings, SysRq-m and panic.
 */
#include <linux/kprobes.h>
#include <linux/printk.h>

#include "balloon_core.h"
#include "internal.h"

/* show_mem() lines carry no module prefix; neither does ours. */
#undef pr_fmt
#define pr_fmt(fmt) fmt

static int show_mem_return(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	pr_warn("Balloon InflatedTotal:%ldkB InflatedFree:%ldkB\n",
		balloon_get_inflated_total(), balloon_get_inflated_free());
	bcore_history_print();
	bcore_hook_check_missed(&bcore_show_mem_hook);
	return 0;
}

struct bcore_hook bcore_show_mem_hook = {
	.what = "show_mem() reports",
	.krp = {
		.handler = show_mem_return,
	},
};
