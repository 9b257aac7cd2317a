// SPDX-License-Identifier: GPL-2.0
/*
 * /sys/kernel/balloon/{inflated_total_kb,inflated_free_kb}: the stable
 * place for monitoring, since debugfs is not ABI. Under /sys/kernel rather
 * than /sys/kernel/mm because mm_kobj is not exported on newer kernels.
 */
#include <linux/kobject.h>
#include <linux/sysfs.h>

#include "balloon_core.h"
#include "internal.h"

static struct kobject *balloon_kobj;

static ssize_t inflated_total_kb_show(struct kobject *kobj,
				      struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%ld\n", balloon_get_inflated_total());
}

static ssize_t inflated_free_kb_show(struct kobject *kobj,
				     struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%ld\n", balloon_get_inflated_free());
}

static struct kobj_attribute inflated_total_kb_attr = __ATTR_RO(inflated_total_kb);
static struct kobj_attribute inflated_free_kb_attr = __ATTR_RO(inflated_free_kb);

static struct attribute *balloon_attrs[] = {
	&inflated_total_kb_attr.attr,
	&inflated_free_kb_attr.attr,
	NULL,
};

static const struct attribute_group balloon_attr_group = {
	.attrs = balloon_attrs,
};

int bcore_sysfs_init(void)
{
	int err;

	balloon_kobj = kobject_create_and_add("balloon", kernel_kobj);
	if (!balloon_kobj) {
		pr_err("cannot create /sys/kernel/balloon\n");
		return -ENOMEM;
	}
	err = sysfs_create_group(balloon_kobj, &balloon_attr_group);
	if (err) {
		pr_err("cannot create /sys/kernel/balloon attributes (error %d)\n", err);
		kobject_put(balloon_kobj);
		return err;
	}
	return 0;
}

void bcore_sysfs_exit(void)
{
	sysfs_remove_group(balloon_kobj, &balloon_attr_group);
	kobject_put(balloon_kobj);
}
