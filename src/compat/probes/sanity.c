// SPDX-License-Identifier: GPL-2.0
/*
 * Probe: none; it must always compile. If it does not, the toolchain or
 * the headers are broken, and every other "no" would be a lie, so
 * gen-compat.sh stops instead of writing a header.
 */
#include <linux/module.h>

int bext_probe_sanity(void);
int bext_probe_sanity(void)
{
	return 0;
}
