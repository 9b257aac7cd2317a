// SPDX-License-Identifier: GPL-2.0
/*
 * Probe: memory_block_size_bytes() is declared for modules.
 * Change: none in 5.10-7.3 (it is exported on all of them); the in-tree
 * hv_balloon uses it for the hot-add chunk only from 6.10.
 */
#include <linux/memory.h>

unsigned long bext_probe_memory_block_size_bytes(void);
unsigned long bext_probe_memory_block_size_bytes(void)
{
	return memory_block_size_bytes();
}
