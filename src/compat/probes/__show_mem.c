// SPDX-License-Identifier: GPL-2.0
/*
 * Probe: __show_mem() exists.
 * Change: between 5.10 and 6.1, show_mem() became an inline wrapper around
 * __show_mem(filter, nodemask, max_zone_idx), which the OOM report calls
 * directly. Hooking __show_mem() there catches every report; on older
 * kernels show_mem() is the real function.
 */
#include <linux/mm.h>

void *bext_probe___show_mem(void);
void *bext_probe___show_mem(void)
{
	return __show_mem;
}
