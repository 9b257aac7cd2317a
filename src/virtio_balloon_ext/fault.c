// SPDX-License-Identifier: GPL-2.0
/*
 * Injected failures of the balloon's own page allocations, for testing.
 *
 * Inflation and free page hinting allocate from work items, which run in
 * kworkers shared with the rest of the kernel; the kernel's failslab and
 * fail_page_alloc can only single out a task, so they cannot aim at these
 * allocations alone. Each device gets a fault attribute of its own
 * instead, as nvme and mmc have: debugfs fail_virtio-balloon/ takes the
 * usual probability, interval, times, space and verbose settings. Built
 * only where the kernel has CONFIG_FAULT_INJECTION_DEBUG_FS (Kbuild).
 */
#include <linux/debugfs.h>
#include <linux/err.h>

#include "vbe.h"

void vbe_fault_add(struct vbe *vb, const char *debugfs_name)
{
	char name[80];
	struct dentry *dir;

	vb->fail_alloc = (struct fault_attr)FAULT_ATTR_INITIALIZER;
	snprintf(name, sizeof(name), "fail_%s", debugfs_name);
	dir = fault_create_debugfs_attr(name, NULL, &vb->fail_alloc);
	vb->fail_dir = IS_ERR(dir) ? NULL : dir;
}

void vbe_fault_remove(struct vbe *vb)
{
	debugfs_remove_recursive(vb->fail_dir);
	vb->fail_dir = NULL;
}

bool vbe_fail_alloc(struct vbe *vb, unsigned int order)
{
	return vb->fail_dir && should_fail(&vb->fail_alloc, PAGE_SIZE << order);
}
