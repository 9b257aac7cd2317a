// SPDX-License-Identifier: GPL-2.0
/*
 * Probe: balloon_page_finalize() exists (in the pre-7.0 header).
 * Change: 6.17 renamed balloon_page_delete() to balloon_page_finalize();
 * Debian's 6.1 and 6.12 have the rename backported, 5.10 does not.
 */
#include <linux/balloon_compaction.h>

void bext_probe_balloon_page_finalize(struct page *page);
void bext_probe_balloon_page_finalize(struct page *page)
{
	balloon_page_finalize(page);
}
