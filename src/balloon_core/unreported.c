// SPDX-License-Identifier: GPL-2.0
/*
 * No confident zero: the in-tree balloon drivers do not report to
 * balloon_core, so while one of them holds a device, a 0 kB here would
 * be a guess. This finds them where an admin would, in sysfs:
 *
 *   virtio_balloon   devices bound in /sys/bus/virtio/drivers/virtio_balloon
 *   hv_balloon       devices bound in /sys/bus/vmbus/drivers/hv_balloon
 *   vmw_balloon      /sys/module/vmw_balloon: its init fails off VMware, so
 *                    loaded means at work
 *
 * A driver's bound devices are the symlinks in its directory other than
 * "module". The bus types are not exported, so there is no lookup but
 * the path; it is resolved in the reader's mount namespace, which sees
 * the one sysfs there is (a reader without /sys sees no driver).
 * Process context only: readers of debugfs and sysfs.
 */
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/namei.h>
#include <linux/seq_file.h>
#include <linux/string.h>
#include <linux/sysfs.h>

#include "internal.h"

struct bcore_in_tree {
	const char *name;
	const char *path;
	bool bus_driver;	/* count bound devices; else being there is enough */
};

static const struct bcore_in_tree in_tree[] = {
	{ "virtio_balloon", "/sys/bus/virtio/drivers/virtio_balloon", true },
	{ "hv_balloon", "/sys/bus/vmbus/drivers/hv_balloon", true },
	{ "vmw_balloon", "/sys/module/vmw_balloon", false },
};

struct bcore_bound_ctx {
	struct dir_context ctx;
	unsigned int devices;
};

static BEXT_FILLDIR_RET bcore_count_bound(struct dir_context *ctx, const char *name, int len,
					  loff_t offset, u64 ino, unsigned int type)
{
	struct bcore_bound_ctx *bound = container_of(ctx, struct bcore_bound_ctx, ctx);

	if (type == DT_LNK && !(len == 6 && !memcmp(name, "module", 6)))
		bound->devices++;
	return BEXT_FILLDIR_CONTINUE;
}

/* Devices the driver holds; 1 for a driver that is just there; 0 if absent. */
static unsigned int bcore_devices_of(const struct bcore_in_tree *drv)
{
	struct bcore_bound_ctx bound = { .ctx.actor = bcore_count_bound };
	struct file *dir;
	struct path path;

	if (!drv->bus_driver) {
		if (kern_path(drv->path, LOOKUP_FOLLOW, &path))
			return 0;
		path_put(&path);
		return 1;
	}
	dir = filp_open(drv->path, O_RDONLY | O_DIRECTORY, 0);
	if (IS_ERR(dir))
		return 0;
	if (iterate_dir(dir, &bound.ctx))
		bound.devices = 0;
	filp_close(dir, NULL);
	return bound.devices;
}

/* /sys/kernel/balloon/unreported: one driver name per line, empty if none. */
ssize_t bcore_unreported_sysfs(char *buf)
{
	unsigned int i;
	int len = 0;

	for (i = 0; i < ARRAY_SIZE(in_tree); i++) {
		if (bcore_devices_of(&in_tree[i]))
			len += sysfs_emit_at(buf, len, "%s\n", in_tree[i].name);
	}
	return len;
}

/* debugfs: a sentence per driver at work. */
void bcore_unreported_debugfs(struct seq_file *m)
{
	unsigned int i, devices;

	for (i = 0; i < ARRAY_SIZE(in_tree); i++) {
		devices = bcore_devices_of(&in_tree[i]);
		if (!devices)
			continue;
		if (in_tree[i].bus_driver)
			seq_printf(m, "unreported: %s holds %u device%s and does not report to balloon_core: its balloon is not counted above\n",
				   in_tree[i].name, devices, devices == 1 ? "" : "s");
		else
			seq_printf(m, "unreported: %s is loaded and does not report to balloon_core: its balloon is not counted above\n",
				   in_tree[i].name);
	}
}
