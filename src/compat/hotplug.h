/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Memory hotplug: the add_memory() flag's name (5.11 renamed it) and the
 * memory block size, which is the unit of add_memory() on every kernel.
 */
#ifndef BALLOON_EXT_COMPAT_HOTPLUG_H
#define BALLOON_EXT_COMPAT_HOTPLUG_H

#include <linux/memory.h>
#include <linux/memory_hotplug.h>

#ifdef BEXT_HAVE_MHP_MERGE_RESOURCE
#define BEXT_MHP_MERGE_RESOURCE	MHP_MERGE_RESOURCE
#else
#define BEXT_MHP_MERGE_RESOURCE	MEMHP_MERGE_RESOURCE
#endif

/* The memory block size in bytes: the smallest unit memory is added in. */
static inline unsigned long bext_memory_block_bytes(void)
{
#ifdef BEXT_HAVE_MEMORY_BLOCK_SIZE_BYTES
	return memory_block_size_bytes();
#else
	return MIN_MEMORY_BLOCK_SIZE;
#endif
}

#endif /* BALLOON_EXT_COMPAT_HOTPLUG_H */
