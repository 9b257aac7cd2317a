// SPDX-License-Identifier: GPL-2.0
/*
 * Probe: a module can report free pages with the Hyper-V cold discard hint.
 * Change: 5.11 added hv_query_ext_cap() and the hint's definitions, which
 * hv_balloon uses from 6.1; Debian 5.10 has neither. The hint type's
 * field name is probe hv_memory_hint_heat_type.
 */
#include <linux/hyperv.h>
#include <linux/page_reporting.h>
#include <linux/percpu.h>
#include <asm/mshyperv.h>

u64 bext_probe_hv_page_reporting(struct page_reporting_dev_info *pr);
u64 bext_probe_hv_page_reporting(struct page_reporting_dev_info *pr)
{
	struct hv_memory_hint *hint;

	if (!hv_query_ext_cap(HV_EXT_CAPABILITY_MEMORY_COLD_DISCARD_HINT))
		return page_reporting_register(pr);
	hint = *(struct hv_memory_hint **)this_cpu_ptr(hyperv_pcpu_input_arg);
	hint->ranges[0].page.largepage = 1;
	hint->ranges[0].page_size = HV_GPA_PAGE_RANGE_PAGE_SIZE_2MB;
	return hv_do_rep_hypercall(HV_EXT_CALL_MEMORY_HEAT_HINT, 1, 0, hint, NULL);
}
