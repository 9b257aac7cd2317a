// SPDX-License-Identifier: GPL-2.0
/*
 * Module parameters that are a number in a range: a value outside it is
 * refused with a log line saying what would do, at load time and when
 * written to /sys/module/virtio_balloon_ext/parameters/ alike.
 */
#include <linux/kernel.h>
#include <linux/moduleparam.h>
#include <linux/string.h>

#include "vbe.h"

static int vbe_range_set(const char *val, const struct kernel_param *kp)
{
	const struct vbe_uint_range *r = kp->arg;
	unsigned int n;

	if (kstrtouint(val, 0, &n) || n < r->min || n > r->max) {
		/* Without the newline that echo adds on a write to sysfs. */
		pr_err("%s: '%.*s' is not a number of %s from %u to %u\n",
		       kp->name, (int)strcspn(val, "\n"), val, r->unit, r->min,
		       r->max);
		return -EINVAL;
	}
	WRITE_ONCE(*r->value, n);
	return 0;
}

static int vbe_range_get(char *buf, const struct kernel_param *kp)
{
	const struct vbe_uint_range *r = kp->arg;

	return sysfs_emit(buf, "%u\n", READ_ONCE(*r->value));
}

const struct kernel_param_ops vbe_range_ops = {
	.set = vbe_range_set,
	.get = vbe_range_get,
};
