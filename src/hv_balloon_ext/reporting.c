// SPDX-License-Identifier: GPL-2.0
/*
 * Free page reporting: free 2 MiB blocks are reported to Hyper-V with
 * the cold discard hint (HvExtCallMemoryHeatHint), where the host offers
 * it (hv_query_ext_cap()) and the kernel exports what it takes: not on
 * 5.10, where this file builds to nothing. Blocks are always 2 MiB (the
 * 6.1 in-tree choice); the host takes no smaller ones on every version.
 * Nothing here answers these hypercalls under QEMU TCG: hv_query_ext_cap()
 * says no there, so this path is built but never run by the tests.
 */
#include <linux/mmzone.h>
#include <linux/mutex.h>
#include <linux/page_reporting.h>
#include <linux/scatterlist.h>
#include <linux/workqueue.h>

#include "hvb.h"

#if defined(BEXT_HAVE_HV_PAGE_REPORTING) && IS_ENABLED(CONFIG_PAGE_REPORTING)
#include <linux/irqflags.h>
#include <linux/percpu.h>
#include <asm/mshyperv.h>

#include "../compat/hyperv.h"

#define HVB_REPORT_ORDER	9
#define HVB_REPORT_BYTES	(HV_HYP_PAGE_SIZE << HVB_REPORT_ORDER)
/* Failed hypercalls after which reporting is switched off (6.12's 2). */
#define HVB_REPORT_MAX_FAILURES	2

static struct page_reporting_dev_info hvb_pr;
static bool hvb_pr_on;
static DEFINE_MUTEX(hvb_pr_mutex);
static atomic_t hvb_pr_failures = ATOMIC_INIT(0);

static void hvb_reporting_off_work(struct work_struct *work)
{
	pr_err("Multiple failures in cold memory discard hypercall, disabling page reporting\n");
	hvb_reporting_disable();
}

static DECLARE_WORK(hvb_pr_off, hvb_reporting_off_work);

static int hvb_pr_report(struct page_reporting_dev_info *pr, struct scatterlist *sgl,
			 unsigned int nents)
{
	struct hv_memory_hint *hint;
	struct scatterlist *sg;
	unsigned long flags;
	unsigned int i;
	u64 status;

	if (atomic_read(&hvb_pr_failures) >= HVB_REPORT_MAX_FAILURES)
		return -EINVAL;
	if (WARN_ON_ONCE(nents > HV_MEMORY_HINT_MAX_GPA_PAGE_RANGES))
		return -EINVAL;
	local_irq_save(flags);
	hint = *(struct hv_memory_hint **)this_cpu_ptr(hyperv_pcpu_input_arg);
	if (!hint) {
		local_irq_restore(flags);
		return -ENOSPC;
	}
	bext_hv_hint_cold_discard(hint);
	for_each_sg(sgl, sg, nents, i) {
		union hv_gpa_page_range *r = &hint->ranges[i];

		r->address_space = 0;
		r->page.largepage = 1;
		r->page.additional_pages = sg->length / HVB_REPORT_BYTES - 1;
		r->page_size = HV_GPA_PAGE_RANGE_PAGE_SIZE_2MB;
		r->base_large_pfn = page_to_hvpfn(sg_page(sg)) >> HVB_REPORT_ORDER;
	}
	status = hv_do_rep_hypercall(HV_EXT_CALL_MEMORY_HEAT_HINT, nents, 0, hint, NULL);
	local_irq_restore(flags);
	if (hv_result(status) != HV_STATUS_SUCCESS) {
		pr_err_ratelimited("Cold memory discard hypercall failed with status %llx\n",
				   status);
		if (atomic_inc_return(&hvb_pr_failures) == HVB_REPORT_MAX_FAILURES)
			schedule_work(&hvb_pr_off);
		return -EINVAL;
	}
	return 0;
}

/**
 * hvb_reporting_enable() - report free memory to the host, if it takes it
 */
void hvb_reporting_enable(void)
{
	int ret;

	BUILD_BUG_ON(PAGE_REPORTING_CAPACITY > HV_MEMORY_HINT_MAX_GPA_PAGE_RANGES);
	if (pageblock_order < HVB_REPORT_ORDER) {
		pr_debug("Cold memory discard is only supported on 2MB pages and above\n");
		return;
	}
	if (!hv_query_ext_cap(HV_EXT_CAPABILITY_MEMORY_COLD_DISCARD_HINT)) {
		pr_debug("Cold memory discard hint not supported by Hyper-V\n");
		return;
	}
	mutex_lock(&hvb_pr_mutex);
	if (!hvb_pr_on) {
		atomic_set(&hvb_pr_failures, 0);
		memset(&hvb_pr, 0, sizeof(hvb_pr));
		hvb_pr.report = hvb_pr_report;
		bext_page_reporting_set_order(&hvb_pr, HVB_REPORT_ORDER);
		ret = page_reporting_register(&hvb_pr);
		if (ret)
			pr_err("Failed to enable cold memory discard: %d\n", ret);
		else
			pr_info("Cold memory discard hint enabled with order %d\n",
				HVB_REPORT_ORDER);
		hvb_pr_on = !ret;
	}
	mutex_unlock(&hvb_pr_mutex);
}

/**
 * hvb_reporting_disable() - stop reporting free memory
 *
 * Context: process; not from the report callback.
 */
void hvb_reporting_disable(void)
{
	mutex_lock(&hvb_pr_mutex);
	if (hvb_pr_on)
		page_reporting_unregister(&hvb_pr);
	hvb_pr_on = false;
	mutex_unlock(&hvb_pr_mutex);
}

/**
 * hvb_reporting_exit() - stop reporting, and wait for the switch-off work
 */
void hvb_reporting_exit(void)
{
	cancel_work_sync(&hvb_pr_off);
	hvb_reporting_disable();
}
#else
void hvb_reporting_enable(void)
{
}

void hvb_reporting_disable(void)
{
}

void hvb_reporting_exit(void)
{
}
#endif
