// SPDX-License-Identifier: GPL-2.0
/*
 * Probe: balloon pages migrate through struct movable_operations.
 * Change: 6.0 replaced the balloon inode and balloon_aops, which drivers
 * had to set up on a pseudo filesystem of their own, with balloon_mops.
 */
#include <linux/balloon_compaction.h>

const struct movable_operations *bext_probe_balloon_mops(void);
const struct movable_operations *bext_probe_balloon_mops(void)
{
	return &balloon_mops;
}
