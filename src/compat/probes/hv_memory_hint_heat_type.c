// SPDX-License-Identifier: GPL-2.0
/*
 * Probe: struct hv_memory_hint names its type field heat_type.
 * Change: the 6.15-era move of the Hyper-V definitions to
 * include/hyperv/hvgdk_ext.h renamed type to heat_type.
 */
#include <linux/hyperv.h>
#include <asm/mshyperv.h>

void bext_probe_hv_memory_hint_heat_type(struct hv_memory_hint *hint);
void bext_probe_hv_memory_hint_heat_type(struct hv_memory_hint *hint)
{
	hint->heat_type = HV_EXT_MEMORY_HEAT_HINT_TYPE_COLD_DISCARD;
}
