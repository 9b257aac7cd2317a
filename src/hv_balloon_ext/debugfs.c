// SPDX-License-Identifier: GPL-2.0
/*
 * /sys/kernel/debug/hv-balloon: the in-tree driver's file (6.0 and
 * later), line for line, in its order and format, with balloon_core's
 * two amounts first. It exists on every kernel, 5.10 included.
 * "capabilities" says what this build can do, as in-tree: not what was
 * negotiated.
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "hvb.h"

static const char * const hvb_state_names[] = {
	[HVB_INITIALIZING] = "Initializing",
	[HVB_INITIALIZED] = "Initialized",
	[HVB_BALLOON_UP] = "Balloon Up",
	[HVB_BALLOON_DOWN] = "Balloon Down",
	[HVB_HOT_ADD] = "Hot Add",
	[HVB_INIT_ERROR] = "Error",
};

static int hvb_debugfs_show(struct seq_file *f, void *unused)
{
	struct hvb *b = f->private;
	unsigned int state = READ_ONCE(b->state);
	unsigned long added, onlined;
	u32 version = READ_ONCE(b->version);

	hvb_hotadd_counts(&added, &onlined);
	seq_printf(f, "InflatedTotal: %ld kB\n", hvb_inflated_kb(b));
	seq_printf(f, "InflatedFree: %ld kB\n", 0L);

	seq_printf(f, "%-22s: %u.%u\n", "host_version", HVB_VERSION_MAJOR(version),
		   HVB_VERSION_MINOR(version));
	seq_printf(f, "%-22s:", "capabilities");
	if (PAGE_SIZE == HV_HYP_PAGE_SIZE)
		seq_puts(f, " enabled");
	seq_puts(f, " hot_add\n");
	seq_printf(f, "%-22s: %u (%s)\n", "state", state,
		   state < ARRAY_SIZE(hvb_state_names) ? hvb_state_names[state] : "Unknown");
	seq_printf(f, "%-22s: %ld\n", "page_size", HV_HYP_PAGE_SIZE);
	seq_printf(f, "%-22s: %lu\n", "pages_added", added);
	seq_printf(f, "%-22s: %lu\n", "pages_onlined", onlined);
	seq_printf(f, "%-22s: %lu\n", "pages_ballooned", READ_ONCE(b->nr_ballooned));
	seq_printf(f, "%-22s: %lu\n", "total_pages_committed", hvb_committed(b));
	seq_printf(f, "%-22s: %llu\n", "max_dynamic_page_count",
		   READ_ONCE(b->max_dynamic_page_count));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(hvb_debugfs);

void hvb_debugfs_init(struct hvb *b)
{
	b->debugfs = debugfs_create_file("hv-balloon", 0444, NULL, b, &hvb_debugfs_fops);
}

void hvb_debugfs_exit(struct hvb *b)
{
	debugfs_remove(b->debugfs);
	b->debugfs = NULL;
}
