// SPDX-License-Identifier: GPL-2.0
/*
 * Probe: PAGE_REPORTING_ORDER_UNSPECIFIED exists.
 * Change: between 6.12 and 7.2 the page reporting core stopped reading a
 * zero order as "the default" and named the default instead.
 */
#include <linux/page_reporting.h>

void bext_probe_page_reporting_order_unspecified(struct page_reporting_dev_info *pr);
void bext_probe_page_reporting_order_unspecified(struct page_reporting_dev_info *pr)
{
	pr->order = PAGE_REPORTING_ORDER_UNSPECIFIED;
}
