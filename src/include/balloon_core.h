/* SPDX-License-Identifier: GPL-2.0 */
/*
 * balloon_core: tell the admin how much memory the hypervisor took.
 *
 * Balloon drivers report two amounts, in kB:
 *  - InflatedTotal: ballooned memory taken out of MemTotal (the driver
 *    adjusts managed pages);
 *  - InflatedFree: ballooned memory that stays counted as used (the driver
 *    does not adjust managed pages).
 *
 * balloon_core shows both in debugfs, sysfs, /proc/meminfo and every
 * show_mem() report.
 */
#ifndef BALLOON_CORE_H
#define BALLOON_CORE_H

void balloon_set_inflated_total(long inflated_kb);
void balloon_set_inflated_free(long inflated_kb);
long balloon_get_inflated_total(void);
long balloon_get_inflated_free(void);

#endif /* BALLOON_CORE_H */
