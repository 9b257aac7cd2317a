// SPDX-License-Identifier: GPL-2.0
/*
 * hv_sim_vmbus: the exports where vmbus is built into vmlinux (7.x).
 *
 * hv_sim_redirect.h is force-included (Kbuild), so each definition below,
 * written with vmbus's name, defines and exports the hv_sim_ name that a
 * redirected driver build calls, with the prototype <linux/hyperv.h>
 * gives the real one. No modversions CRC has to match Debian's here: the
 * only importer is that test build, linked against this module.
 */
#include <linux/hyperv.h>
#include <linux/module.h>

#include "hv_sim.h"

int __vmbus_driver_register(struct hv_driver *hv_driver, struct module *owner,
			    const char *mod_name)
{
	return hv_sim_driver_register(hv_driver);
}
EXPORT_SYMBOL_GPL(__vmbus_driver_register);

void vmbus_driver_unregister(struct hv_driver *hv_driver)
{
	hv_sim_driver_unregister(hv_driver);
}
EXPORT_SYMBOL_GPL(vmbus_driver_unregister);

int vmbus_open(struct vmbus_channel *newchannel, u32 send_ringbuffer_size,
	       u32 recv_ringbuffer_size, void *userdata, u32 userdatalen,
	       void (*onchannelcallback)(void *context), void *context)
{
	return hv_sim_open(newchannel, send_ringbuffer_size,
			   recv_ringbuffer_size, onchannelcallback, context);
}
EXPORT_SYMBOL_GPL(vmbus_open);

void vmbus_close(struct vmbus_channel *channel)
{
	hv_sim_close(channel);
}
EXPORT_SYMBOL_GPL(vmbus_close);

int vmbus_sendpacket(struct vmbus_channel *channel, void *buffer,
		     u32 bufferlen, u64 requestid, enum vmbus_packet_type type,
		     u32 flags)
{
	return hv_sim_send(channel, buffer, bufferlen, requestid, type, flags);
}
EXPORT_SYMBOL(vmbus_sendpacket);

int vmbus_recvpacket(struct vmbus_channel *channel, void *buffer,
		     u32 bufferlen, u32 *buffer_actual_len, u64 *requestid)
{
	return hv_sim_recv(channel, buffer, bufferlen, buffer_actual_len,
			   requestid);
}
EXPORT_SYMBOL(vmbus_recvpacket);
