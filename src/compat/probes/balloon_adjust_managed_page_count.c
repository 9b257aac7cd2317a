// SPDX-License-Identifier: GPL-2.0
/*
 * Probe: struct balloon_dev_info has adjust_managed_page_count.
 * Change: 7.0 made the balloon core do the page list work of migration and
 * the managed page counts; a driver only sets this flag and tells its host.
 */
#include <linux/balloon.h>

void bext_probe_balloon_adjust(struct balloon_dev_info *info);
void bext_probe_balloon_adjust(struct balloon_dev_info *info)
{
	info->adjust_managed_page_count = true;
}
