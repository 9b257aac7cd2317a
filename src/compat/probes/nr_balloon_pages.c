// SPDX-License-Identifier: GPL-2.0
/*
 * Probe: the kernel counts balloon pages itself (NR_BALLOON_PAGES).
 * Change: 6.15 added the node stat, shown as "Balloon:" in /proc/meminfo.
 */
#include <linux/mm.h>	/* vmstat.h is not self-contained on 7.x */
#include <linux/vmstat.h>

unsigned long bext_probe_nr_balloon_pages(void);
unsigned long bext_probe_nr_balloon_pages(void)
{
	return global_node_page_state(NR_BALLOON_PAGES);
}
