// SPDX-License-Identifier: GPL-2.0
/*
 * Probe: struct page_reporting_dev_info has an order.
 * Change: 5.14 let a driver choose the order of the blocks it is given;
 * before, every report was of pageblock order.
 */
#include <linux/page_reporting.h>

void bext_probe_page_reporting_dev_info_order(struct page_reporting_dev_info *pr);
void bext_probe_page_reporting_dev_info_order(struct page_reporting_dev_info *pr)
{
	pr->order = 5;
}
