// SPDX-License-Identifier: GPL-2.0
/*
 * Probe: balloon_page_finalize() exists (in the pre-7.0 header).
 * Change: 6.17 renamed balloon_page_delete() to balloon_page_finalize();
 * Debian has the rename backported to 5.10 (5.10.262), 6.1 and 6.12, so
 * only other distributions' kernels before 6.17 may lack it.
 */
#include <linux/balloon_compaction.h>

void bext_probe_balloon_page_finalize(struct page *page);
void bext_probe_balloon_page_finalize(struct page *page)
{
	balloon_page_finalize(page);
}
