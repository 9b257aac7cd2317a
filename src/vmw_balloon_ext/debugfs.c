// SPDX-License-Identifier: GPL-2.0
/*
 * /sys/kernel/debug/vmmemctl: the in-tree driver's file, line for line
 * and in its order, so that its readers (support scripts, sosreport)
 * keep working, with balloon_core's two amounts first and our own
 * counters last. Statistics count from module load, not from the first
 * read as in-tree. Note that "target" appears twice, as in-tree: the
 * size first, then the count of GET_TARGET commands.
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "vmwb.h"

static struct dentry *vmwb_debugfs;

static const char * const vmwb_stat_names[VMWB_NR_STATS] = {
	[VMWB_STAT_TIMER] = "timer",
	[VMWB_STAT_DOORBELL] = "doorbell",
	[VMWB_STAT_RESET] = "reset",
	[VMWB_STAT_SHRINK] = "shrink",
	[VMWB_STAT_SHRINK_FREE] = "shrinkFree",
};

static const char * const vmwb_page_stat_names[VMWB_NR_PSTATS] = {
	[VMWB_PSTAT_ALLOC] = "alloc",
	[VMWB_PSTAT_ALLOC_FAIL] = "allocFail",
	[VMWB_PSTAT_REFUSED_ALLOC] = "errAlloc",
	[VMWB_PSTAT_REFUSED_FREE] = "errFree",
	[VMWB_PSTAT_FREE] = "free",
};

static const char * const vmwb_ext_stat_names[VMWB_NR_XSTATS] = {
	[VMWB_XSTAT_MIGRATED] = "migrated",
	[VMWB_XSTAT_MIGRATE_DROPPED] = "migrateDropped",
	[VMWB_XSTAT_OOM_CALLS] = "oomCalls",
	[VMWB_XSTAT_OOM_FREED] = "oomFreed",
	[VMWB_XSTAT_BAD_TARGET] = "badTarget",
};

static const char * const vmwb_size_names[VMWB_NR_SIZES] = {
	[VMWB_4K] = "4k",
	[VMWB_2M] = "2M",
};

static int vmwb_debugfs_show(struct seq_file *f, void *unused)
{
	struct vmwb *b = f->private;
	struct vmwb_stats *s = &b->stats;
	unsigned int i, j;

	seq_printf(f, "InflatedTotal: %ld kB\n", 0L);
	seq_printf(f, "InflatedFree: %ld kB\n", vmwb_inflated_kb(b));

	seq_printf(f, "%-22s: %#16x\n", "balloon capabilities", (unsigned int)VMWB_CAPS);
	seq_printf(f, "%-22s: %#16lx\n", "used capabilities", READ_ONCE(b->caps));
	seq_printf(f, "%-22s: %16s\n", "is resetting", READ_ONCE(b->reset_required) ? "y" : "n");
	seq_printf(f, "%-22s: %16lu\n", "target", READ_ONCE(b->target));
	seq_printf(f, "%-22s: %16llu\n", "current", (u64)atomic64_read(&b->size));

	for (i = 0; i < VMWB_NR_CMDS; i++) {
		if (!vmwb_cmd_names[i])
			continue;
		seq_printf(f, "%-22s: %16llu (%llu failed)\n", vmwb_cmd_names[i],
			   (u64)atomic64_read(&s->cmd[i]), (u64)atomic64_read(&s->cmd_failed[i]));
	}
	for (i = 0; i < VMWB_NR_STATS; i++)
		seq_printf(f, "%-22s: %16llu\n", vmwb_stat_names[i],
			   (u64)atomic64_read(&s->stat[i]));
	for (i = 0; i < VMWB_NR_PSTATS; i++)
		for (j = 0; j < VMWB_NR_SIZES; j++)
			seq_printf(f, "%-18s(%s): %16llu\n", vmwb_page_stat_names[i],
				   vmwb_size_names[j], (u64)atomic64_read(&s->page[i][j]));

	seq_printf(f, "%-22s: %16lu\n", "host target", READ_ONCE(b->host_target));
	for (j = 0; j < VMWB_NR_SIZES; j++)
		seq_printf(f, "%-18s(%s): %16ld\n", "pages", vmwb_size_names[j],
			   atomic_long_read(&b->n_pages[j]));
	for (i = 0; i < VMWB_NR_XSTATS; i++)
		seq_printf(f, "%-22s: %16llu\n", vmwb_ext_stat_names[i],
			   (u64)atomic64_read(&s->ext[i]));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(vmwb_debugfs);

void vmwb_debugfs_init(struct vmwb *b)
{
	vmwb_debugfs = debugfs_create_file("vmmemctl", 0444, NULL, b, &vmwb_debugfs_fops);
}

void vmwb_debugfs_exit(void)
{
	debugfs_remove(vmwb_debugfs);
	vmwb_debugfs = NULL;
}
