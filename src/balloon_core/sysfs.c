// SPDX-License-Identifier: GPL-2.0
/*
 * /sys/kernel/balloon: the stable place for monitoring, since debugfs is
 * not ABI. Under /sys/kernel rather than /sys/kernel/mm because mm_kobj is
 * not exported on newer kernels.
 *
 *   inflated_total_kb, inflated_free_kb     the sums over every source
 *   unreported                              in-tree balloon drivers at work
 *   sources/<name>/{inflated_total_kb,inflated_free_kb,target_kb,reports}
 *
 * All 0444. A file whose value changes is notified (sysfs_notify
 * semantics), so a monitor can poll() it rather than re-read it. Reports
 * come in any context, and sysfs_notify() looks its file up under a
 * mutex, so each file's kernfs node is looked up once, when it is made.
 * kernfs_notify() takes ordinary spinlocks, which sleep on PREEMPT_RT and
 * must not nest in a raw one, so a report only marks the files and queues
 * an irq_work that notifies them.
 */
#include <linux/irq_work.h>
#include <linux/kernfs.h>
#include <linux/kobject.h>
#include <linux/slab.h>
#include <linux/sysfs.h>

#include "balloon_core.h"
#include "internal.h"

static struct kobject *balloon_kobj;
static struct kobject *sources_kobj;
/* The sums' files, indexed by BCORE_FILE_TOTAL and BCORE_FILE_FREE. */
static struct kernfs_node *sum_files[2];
static struct irq_work sums_work;
static atomic_t sums_pending = ATOMIC_INIT(0);	/* bits of BCORE_FILE_TOTAL/FREE */

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

static ssize_t unreported_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	return bcore_unreported_sysfs(buf);
}

static struct kobj_attribute inflated_total_kb_attr = __ATTR_RO(inflated_total_kb);
static struct kobj_attribute inflated_free_kb_attr = __ATTR_RO(inflated_free_kb);
static struct kobj_attribute unreported_attr = __ATTR_RO(unreported);

/* The sums first, in BCORE_FILE_TOTAL and BCORE_FILE_FREE order. */
static struct attribute *balloon_attrs[] = {
	&inflated_total_kb_attr.attr,
	&inflated_free_kb_attr.attr,
	&unreported_attr.attr,
	NULL,
};

static const struct attribute_group balloon_attr_group = {
	.attrs = balloon_attrs,
};

/* The files of one source: the same names, its own values. */
static struct balloon_core_source *to_source(struct kobject *kobj)
{
	return container_of(kobj, struct balloon_core_source, kobj);
}

static ssize_t source_show(struct kobject *kobj, char *buf, enum bcore_file file)
{
	struct bcore_source_values v;

	bcore_source_read(to_source(kobj), &v);
	switch (file) {
	case BCORE_FILE_TOTAL:
		return sysfs_emit(buf, "%ld\n", v.total_kb);
	case BCORE_FILE_FREE:
		return sysfs_emit(buf, "%ld\n", v.free_kb);
	case BCORE_FILE_TARGET:
		return sysfs_emit(buf, "%ld\n", v.target_kb);
	default:
		return sysfs_emit(buf, "%lu\n", v.reports);
	}
}

#define BCORE_SOURCE_ATTR(_name, _file)						\
static ssize_t source_##_name##_show(struct kobject *kobj,			\
				     struct kobj_attribute *attr, char *buf)	\
{										\
	return source_show(kobj, buf, _file);					\
}										\
static struct kobj_attribute source_##_name##_attr =				\
	__ATTR(_name, 0444, source_##_name##_show, NULL)

BCORE_SOURCE_ATTR(inflated_total_kb, BCORE_FILE_TOTAL);
BCORE_SOURCE_ATTR(inflated_free_kb, BCORE_FILE_FREE);
BCORE_SOURCE_ATTR(target_kb, BCORE_FILE_TARGET);
BCORE_SOURCE_ATTR(reports, BCORE_FILE_REPORTS);

/* In enum bcore_file order: the index is the file. */
static struct attribute *source_attrs[] = {
	&source_inflated_total_kb_attr.attr,
	&source_inflated_free_kb_attr.attr,
	&source_target_kb_attr.attr,
	&source_reports_attr.attr,
	NULL,
};
ATTRIBUTE_GROUPS(source);

static void source_release(struct kobject *kobj)
{
	kfree(to_source(kobj));
}

static struct kobj_type source_ktype = {
	.release = source_release,
	.sysfs_ops = &kobj_sysfs_ops,
	.default_groups = source_groups,
};

static void bcore_put_files(struct kernfs_node **files, unsigned int n)
{
	while (n--) {
		sysfs_put(files[n]);
		files[n] = NULL;
	}
}

/* Look each file up once, for notifications from any context. */
static int bcore_get_files(struct kobject *kobj, struct attribute **attrs,
			   struct kernfs_node **files, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		files[i] = sysfs_get_dirent(kobj->sd, attrs[i]->name);
		if (!files[i]) {
			bcore_put_files(files, i);
			return -ENOENT;
		}
	}
	return 0;
}

/* Notify the files whose bits are in @pending, clearing them. */
static void bcore_notify_files(struct kernfs_node **files, atomic_t *pending)
{
	unsigned int bits = atomic_xchg(pending, 0), i;

	for (i = 0; bits; i++, bits >>= 1) {
		if (bits & 1)
			kernfs_notify(files[i]);
	}
}

static void bcore_source_notify_work(struct irq_work *work)
{
	struct balloon_core_source *src = container_of(work, struct balloon_core_source,
						       notify_work);

	bcore_notify_files(src->files, &src->notify_pending);
}

static void bcore_sums_notify_work(struct irq_work *work)
{
	bcore_notify_files(sum_files, &sums_pending);
}

/* On error the source is freed (its kobject's release). */
int bcore_sysfs_add_source(struct balloon_core_source *src)
{
	int err;

	init_irq_work(&src->notify_work, bcore_source_notify_work);
	err = kobject_init_and_add(&src->kobj, &source_ktype, sources_kobj, "%s", src->name);
	if (!err)
		err = bcore_get_files(&src->kobj, source_attrs, src->files, BCORE_NR_FILES);
	if (err) {
		kobject_put(&src->kobj);
		return err;
	}
	return 0;
}

void bcore_sysfs_remove_source(struct balloon_core_source *src)
{
	irq_work_sync(&src->notify_work);	/* no report comes after unregister */
	bcore_put_files(src->files, BCORE_NR_FILES);
	kobject_del(&src->kobj);
	kobject_put(&src->kobj);
}

/* Any context, NMI included: irq_work_queue() is made for it. */
void bcore_sysfs_notify(struct balloon_core_source *src, unsigned int files)
{
	atomic_or(files, &src->notify_pending);
	irq_work_queue(&src->notify_work);
}

/* @files: bits of BCORE_FILE_TOTAL and BCORE_FILE_FREE */
void bcore_notify_sums(unsigned int files)
{
	files &= BIT(BCORE_FILE_TOTAL) | BIT(BCORE_FILE_FREE);
	if (!files)
		return;
	atomic_or(files, &sums_pending);
	irq_work_queue(&sums_work);
}

int bcore_sysfs_init(void)
{
	int err;

	init_irq_work(&sums_work, bcore_sums_notify_work);
	balloon_kobj = kobject_create_and_add("balloon", kernel_kobj);
	if (!balloon_kobj) {
		pr_err("cannot create /sys/kernel/balloon\n");
		return -ENOMEM;
	}
	err = sysfs_create_group(balloon_kobj, &balloon_attr_group);
	if (err) {
		pr_err("cannot create /sys/kernel/balloon attributes (error %d)\n", err);
		goto put_balloon;
	}
	err = bcore_get_files(balloon_kobj, balloon_attrs, sum_files, ARRAY_SIZE(sum_files));
	if (err)
		goto remove_group;
	sources_kobj = kobject_create_and_add("sources", balloon_kobj);
	if (!sources_kobj) {
		pr_err("cannot create /sys/kernel/balloon/sources\n");
		err = -ENOMEM;
		goto put_files;
	}
	return 0;

put_files:
	bcore_put_files(sum_files, ARRAY_SIZE(sum_files));
remove_group:
	sysfs_remove_group(balloon_kobj, &balloon_attr_group);
put_balloon:
	kobject_put(balloon_kobj);
	return err;
}

void bcore_sysfs_exit(void)
{
	irq_work_sync(&sums_work);
	kobject_put(sources_kobj);
	bcore_put_files(sum_files, ARRAY_SIZE(sum_files));
	sysfs_remove_group(balloon_kobj, &balloon_attr_group);
	kobject_put(balloon_kobj);
}
