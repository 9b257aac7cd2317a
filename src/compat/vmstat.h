/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reclaim counters for the balloon stats tags 12-15: vm events up to 7.0,
 * node stats from 7.1. The kernel's balloon page count, from 6.15.
 */
#ifndef BALLOON_EXT_COMPAT_VMSTAT_H
#define BALLOON_EXT_COMPAT_VMSTAT_H

#include <linux/mm.h>	/* vmstat.h is not self-contained on 7.x */
#include <linux/vmstat.h>

/*
 * Both probes failing (headers or compiler broken in a way the sanity
 * probe misses), or both compiling (a compiler that ignores
 * -Werror=enum-conversion), would pick a branch below on no evidence.
 */
#if defined(BEXT_HAVE_NODE_STAT_PGSCAN) == defined(BEXT_HAVE_VM_EVENT_PGSCAN)
#error "balloon-ext: probes node_stat_pgscan and vm_event_pgscan must disagree"
#endif

struct bext_reclaim {
	unsigned long async_scan;	/* pages, by kswapd */
	unsigned long direct_scan;	/* pages, by allocating tasks */
	unsigned long async_reclaim;
	unsigned long direct_reclaim;
};

#ifdef CONFIG_VM_EVENT_COUNTERS
/* @events: all_vm_events(), which older kernels count these in. */
static inline void bext_reclaim_counters(const unsigned long *events,
					 struct bext_reclaim *r)
{
#ifdef BEXT_HAVE_NODE_STAT_PGSCAN
	r->async_scan = global_node_page_state(PGSCAN_KSWAPD);
	r->direct_scan = global_node_page_state(PGSCAN_DIRECT);
	r->async_reclaim = global_node_page_state(PGSTEAL_KSWAPD);
	r->direct_reclaim = global_node_page_state(PGSTEAL_DIRECT);
#else
	r->async_scan = events[PGSCAN_KSWAPD];
	r->direct_scan = events[PGSCAN_DIRECT];
	r->async_reclaim = events[PGSTEAL_KSWAPD];
	r->direct_reclaim = events[PGSTEAL_DIRECT];
#endif
}
#endif

/*
 * The kernel's own count of balloon pages, in kB, where it keeps one
 * (NR_BALLOON_PAGES); false where it does not.
 */
static inline bool bext_kernel_balloon_kb(unsigned long *kb)
{
#ifdef BEXT_HAVE_NR_BALLOON_PAGES
	*kb = global_node_page_state(NR_BALLOON_PAGES) << (PAGE_SHIFT - 10);
	return true;
#else
	return false;
#endif
}

/*
 * Add @nr 4 KiB pages at @page to the kernel's balloon count, where it
 * keeps one: for pages the kernel's balloon list does not count itself.
 */
static inline void bext_count_balloon_pages(struct page *page, long nr)
{
#ifdef BEXT_HAVE_NR_BALLOON_PAGES
	mod_node_page_state(page_pgdat(page), NR_BALLOON_PAGES, nr);
#endif
}

#endif /* BALLOON_EXT_COMPAT_VMSTAT_H */
