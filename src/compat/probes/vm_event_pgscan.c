// SPDX-License-Identifier: GPL-2.0
/*
 * Probe: PGSCAN_KSWAPD is a vm event.
 * Change: the other side of node_stat_pgscan.c (7.1 moved the PGSCAN_* and
 * PGSTEAL_* counters from enum vm_event_item to enum node_stat_item). A
 * wrong "no" there would still compile and read the wrong counters, so
 * this probe asks the opposite question, and compat/vmstat.h stops the
 * build unless exactly one of the two says yes.
 */
#include <linux/mm.h>	/* vmstat.h is not self-contained on 6.1 */

enum vm_event_item bext_probe_vm_event_pgscan(void);
enum vm_event_item bext_probe_vm_event_pgscan(void)
{
	enum vm_event_item item = PGSCAN_KSWAPD;

	return item;
}
