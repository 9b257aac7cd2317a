// SPDX-License-Identifier: GPL-2.0
/*
 * Probe: the add_memory() flag is called MHP_MERGE_RESOURCE.
 * Change: 5.11 renamed MEMHP_MERGE_RESOURCE (5.10) to MHP_MERGE_RESOURCE.
 */
#include <linux/memory_hotplug.h>

mhp_t bext_probe_mhp_merge_resource(void);
mhp_t bext_probe_mhp_merge_resource(void)
{
	return MHP_MERGE_RESOURCE;
}
