// SPDX-License-Identifier: GPL-2.0
/*
 * Probe: <linux/balloon.h> exists.
 * Change: 7.0 renamed <linux/balloon_compaction.h> to <linux/balloon.h>.
 */
#include <linux/balloon.h>

struct page *bext_probe_linux_balloon_h(void);
struct page *bext_probe_linux_balloon_h(void)
{
	return balloon_page_alloc();
}
