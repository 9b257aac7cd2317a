/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The vmbus calls, renamed to the simulated host's.
 *
 * For kernels whose vmbus is built into vmlinux (7.x), where no module
 * can export the vmbus names. Force-included (-include) before anything
 * else, both into hv_sim_vmbus's two export files and into a test
 * build of src/hv_balloon_ext, it renames the six functions the driver
 * calls, so that <linux/hyperv.h> itself declares the hv_sim_ names
 * with vmbus's own prototypes: the compiler checks both sides against
 * them. vmbus_driver_register() is hyperv.h's macro over
 * __vmbus_driver_register(), so it follows. Test builds only; the
 * driver DKMS installs calls vmbus.
 */
#ifndef HV_SIM_REDIRECT_H
#define HV_SIM_REDIRECT_H

#define __vmbus_driver_register	hv_sim___vmbus_driver_register
#define vmbus_driver_unregister	hv_sim_vmbus_driver_unregister
#define vmbus_open		hv_sim_vmbus_open
#define vmbus_close		hv_sim_vmbus_close
#define vmbus_sendpacket	hv_sim_vmbus_sendpacket
#define vmbus_recvpacket	hv_sim_vmbus_recvpacket

#endif
