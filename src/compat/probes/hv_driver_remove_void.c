// SPDX-License-Identifier: GPL-2.0
/*
 * Probe: struct hv_driver's remove returns void.
 * Change: 6.3 made it void; before, it returned int.
 */
#include <linux/hyperv.h>

static void bext_probe_remove(struct hv_device *dev)
{
}

struct hv_driver bext_probe_hv_driver_remove_void = {
	.remove = bext_probe_remove,
};
