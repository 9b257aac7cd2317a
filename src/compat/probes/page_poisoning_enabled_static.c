// SPDX-License-Identifier: GPL-2.0
/*
 * Probe: page_poisoning_enabled_static() exists.
 * Change: 5.11 split page_poisoning_enabled() into an early-boot check and
 * page_poisoning_enabled_static(), the one to use after boot.
 */
#include <linux/mm.h>

bool bext_probe_page_poisoning_enabled_static(void);
bool bext_probe_page_poisoning_enabled_static(void)
{
	return page_poisoning_enabled_static();
}
