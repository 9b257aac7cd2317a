// SPDX-License-Identifier: GPL-2.0
/*
 * Probe: PGSCAN_KSWAPD is a node stat, not a vm event.
 * Change: 7.1 moved the PGSCAN_* and PGSTEAL_* counters from enum
 * vm_event_item to enum node_stat_item. Indexing the vm events with them
 * still compiles, and reads the wrong counter; only the enum's type tells,
 * which -Werror=enum-conversion (set for all probes) checks here.
 * vm_event_pgscan.c asks the opposite, as a cross-check (compat/vmstat.h).
 */
#include <linux/mmzone.h>

enum node_stat_item bext_probe_node_stat_pgscan(void);
enum node_stat_item bext_probe_node_stat_pgscan(void)
{
	enum node_stat_item item = PGSCAN_KSWAPD;

	return item;
}
