/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Page reporting order. Up to 7.1 a zero order meant "the default"
 * (page_reporting.page_reporting_order=, else pageblock_order). Newer
 * kernels have PAGE_REPORTING_ORDER_UNSPECIFIED for that, and read a zero
 * order differently, so drivers must ask for the default by name where the
 * name exists.
 */
#ifndef BALLOON_EXT_COMPAT_PAGE_REPORTING_H
#define BALLOON_EXT_COMPAT_PAGE_REPORTING_H

#include <linux/page_reporting.h>

/*
 * The name is a macro, so the preprocessor can check the probe: a wrong
 * "no" (the probe failing for another reason) would leave the order at 0,
 * which kernels that have the name read as "report single pages".
 */
#if defined(PAGE_REPORTING_ORDER_UNSPECIFIED) && \
	!defined(BEXT_HAVE_PAGE_REPORTING_ORDER_UNSPECIFIED)
#error "balloon-ext: probe page_reporting_order_unspecified said no, yet the name exists"
#endif

static inline void bext_page_reporting_default_order(struct page_reporting_dev_info *pr)
{
#ifdef BEXT_HAVE_PAGE_REPORTING_ORDER_UNSPECIFIED
	pr->order = PAGE_REPORTING_ORDER_UNSPECIFIED;
#endif
}

/* Report blocks of @order where the kernel lets a driver choose (5.14). */
static inline void bext_page_reporting_set_order(struct page_reporting_dev_info *pr,
						 unsigned int order)
{
#ifdef BEXT_HAVE_PAGE_REPORTING_DEV_INFO_ORDER
	pr->order = order;
#endif
}

#endif /* BALLOON_EXT_COMPAT_PAGE_REPORTING_H */
