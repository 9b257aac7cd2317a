/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hv_sim_vmbus: the simulated VMBus and Dynamic Memory host (test only).
 *
 * What the exporting translation units call. They include exactly what
 * Debian's drivers/hv/vmbus_drv.c and channel.c include, so this header
 * names only types those headers already define: nothing here may change
 * the modversions CRCs of the exported functions.
 */
#ifndef HV_SIM_H
#define HV_SIM_H

int hv_sim_driver_register(struct hv_driver *drv, struct module *owner, const char *mod_name);
void hv_sim_driver_unregister(struct hv_driver *drv);
int hv_sim_open(struct vmbus_channel *chan, u32 send_size, u32 recv_size,
		void (*callback)(void *context), void *context);
void hv_sim_close(struct vmbus_channel *chan);
int hv_sim_send(struct vmbus_channel *chan, void *buf, u32 len, u64 req_id,
		u32 type, u32 flags);
int hv_sim_recv(struct vmbus_channel *chan, void *buf, u32 buf_len,
		u32 *actual_len, u64 *req_id);

#endif
