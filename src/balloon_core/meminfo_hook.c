// SPDX-License-Identifier: GPL-2.0
/*
 * Add the balloon lines to /proc/meminfo on a stock kernel.
 *
 * meminfo_proc_show() calls hugetlb_report_meminfo(m) just before the
 * HugePages lines, where the never-merged series printed the balloon lines:
 * an entry probe there prints them in the same place, for one probe hit per
 * read. Kernels without hugetlbfs have no such function; there, and with
 * meminfo_at_end, a return probe on meminfo_proc_show() appends them at the
 * end instead.
 *
 * If the seq_file overflows, seq_read() calls meminfo_proc_show() again
 * with a bigger buffer and the lines are printed again with it.
 */
#include <linux/kprobes.h>
#include <linux/ptrace.h>
#include <linux/seq_file.h>

#include "internal.h"

static int meminfo_before_hugetlb(struct kprobe *p, struct pt_regs *regs)
{
	bcore_show_values((struct seq_file *)regs_get_kernel_argument(regs, 0));
	bcore_hook_check_missed(&bcore_meminfo_hook);
	return 0;
}

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
	bcore_hook_check_missed(&bcore_meminfo_hook);
	return 0;
}

struct bcore_hook bcore_meminfo_hook = {
	.what = "/proc/meminfo",
	.kp = {
		.symbol_name = "hugetlb_report_meminfo",
		.pre_handler = meminfo_before_hugetlb,
	},
	.krp = {
		.kp.symbol_name = "meminfo_proc_show",
		.entry_handler = meminfo_entry,
		.handler = meminfo_return,
		.data_size = sizeof(struct meminfo_call),
	},
	.fallback = "the balloon lines go at the end of /proc/meminfo instead",
};
