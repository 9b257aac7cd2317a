// SPDX-License-Identifier: GPL-2.0
/*
 * Append the balloon lines to /proc/meminfo on a stock kernel: remember the
 * seq_file when meminfo_proc_show() starts and print into it as it returns.
 * If the seq_file overflows, seq_read() calls the function again with a
 * bigger buffer and the lines are printed again with it.
 */
#include <linux/kprobes.h>
#include <linux/ptrace.h>
#include <linux/seq_file.h>

#include "internal.h"

struct meminfo_call {
	struct seq_file *m;
};

static int meminfo_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct meminfo_call *call = (struct meminfo_call *)ri->data;

	call->m = (struct seq_file *)regs_get_kernel_argument(regs, 0);
	return 0;
}

static int meminfo_return(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct meminfo_call *call = (struct meminfo_call *)ri->data;

	if (regs_return_value(regs) == 0)
		bcore_show_values(call->m);
	return 0;
}

struct bcore_hook bcore_meminfo_hook = {
	.what = "/proc/meminfo",
	.krp = {
		.kp.symbol_name = "meminfo_proc_show",
		.entry_handler = meminfo_entry,
		.handler = meminfo_return,
		.data_size = sizeof(struct meminfo_call),
	},
};
