// SPDX-License-Identifier: GPL-2.0
/*
 * Probe: struct vmbus_channel has max_pkt_size.
 * Change: 5.11 let a driver size the packets vmbus reads for it; 5.10
 * has no such field.
 */
#include <linux/hyperv.h>

void bext_probe_vmbus_max_pkt_size(struct vmbus_channel *c);
void bext_probe_vmbus_max_pkt_size(struct vmbus_channel *c)
{
	c->max_pkt_size = 8192;
}
