// SPDX-License-Identifier: GPL-2.0
/*
 * /sys/kernel/debug/balloon: the two meminfo-format lines first, then one
 * line per source, the in-tree drivers at work that do not report, the
 * kernel's own balloon count where it keeps one, then how the hooks
 * fared. Mode 0444 and read-only fops, so it opens under lockdown.
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "internal.h"

static struct dentry *balloon_dentry;

static int balloon_show(struct seq_file *m, void *v)
{
	unsigned long kernel_kb;

	bcore_show_values(m);
	bcore_show_sources(m);
	bcore_unreported_debugfs(m);
	if (bext_kernel_balloon_kb(&kernel_kb))
		seq_printf(m, "kernel NR_BALLOON_PAGES: %lu kB\n", kernel_kb);
	bcore_hook_show(m, "meminfo_hook", &bcore_meminfo_hook);
	bcore_hook_show(m, "show_mem_hook", &bcore_show_mem_hook);
	seq_printf(m, "rejected: %ld\n", bcore_rejected_count());
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(balloon);

/* debugfs errors are not fatal: the values still show elsewhere. */
void bcore_debugfs_init(void)
{
	balloon_dentry = debugfs_create_file("balloon", 0444, NULL, NULL,
					     &balloon_fops);
}

void bcore_debugfs_exit(void)
{
	debugfs_remove(balloon_dentry);
}
