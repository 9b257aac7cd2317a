// SPDX-License-Identifier: GPL-2.0
/*
 * Every call into vmbus lives here: registering the driver, opening and
 * closing the channel, sending and receiving. A test build on a kernel
 * with vmbus built in compiles the same sources with these calls
 * redirected to a simulated host (a force-included header that renames
 * them), so no other file may call vmbus.
 */
#include <linux/hyperv.h>
#include <linux/module.h>

#include "hvb.h"

int hvb_driver_register(struct hv_driver *drv)
{
	return vmbus_driver_register(drv);
}

void hvb_driver_unregister(struct hv_driver *drv)
{
	vmbus_driver_unregister(drv);
}

int hvb_channel_open(struct hvb *b)
{
	int ret;

#ifdef BEXT_HAVE_VMBUS_MAX_PKT_SIZE
	/* The largest packet vmbus hands us: the receive buffer's size. */
	b->hdev->channel->max_pkt_size = HVB_RECV_BUF;
#endif
	ret = vmbus_open(b->hdev->channel, HVB_RING_SIZE, HVB_RING_SIZE, NULL, 0,
			 hvb_on_channel, b);
	b->open = !ret;
	return ret;
}

/* Close the channel if it is open (a failed resume left it closed). */
void hvb_channel_close(struct hvb *b)
{
	if (!b->open)
		return;
	vmbus_close(b->hdev->channel);
	b->open = false;
}

/*
 * Send one message, its length from its header, with no completion asked
 * for, as in-tree. It never sleeps: the channel callback sends too.
 */
int hvb_send(struct hvb *b, void *msg)
{
	struct hvb_hdr *hdr = msg;

	return vmbus_sendpacket(b->hdev->channel, msg, hdr->size, 0,
				VM_PKT_DATA_INBAND, 0);
}

/*
 * The channel callback's read: one packet into the receive buffer.
 * Returns its length, 0 when none is left, or a negative error.
 */
int hvb_recv(struct hvb *b, u32 *len)
{
	u64 req_id;

	return vmbus_recvpacket(b->hdev->channel, b->recv_buf, HVB_RECV_BUF, len, &req_id);
}
