/* SPDX-License-Identifier: GPL-2.0 */
/* Internal interfaces between the parts of balloon_core. */
#ifndef BALLOON_CORE_INTERNAL_H
#define BALLOON_CORE_INTERNAL_H

#include <linux/atomic.h>
#include <linux/irq_work.h>
#include <linux/kobject.h>
#include <linux/kprobes.h>
#include <linux/list.h>
#include <linux/seq_file.h>
#include <linux/spinlock.h>
#include <linux/types.h>

#include "balloon_core.h"

/* A source's sysfs files, as bits of what a report changed. */
enum bcore_file {
	BCORE_FILE_TOTAL,
	BCORE_FILE_FREE,
	BCORE_FILE_TARGET,
	BCORE_FILE_REPORTS,
	BCORE_NR_FILES
};

struct balloon_core_source {
	struct list_head node;		/* in the sources list, under its mutex */
	struct kobject kobj;		/* /sys/kernel/balloon/sources/<name> */
	struct kernfs_node *files[BCORE_NR_FILES];	/* to notify pollers */
	struct irq_work notify_work;	/* notifies them outside the reporter's context */
	atomic_t notify_pending;	/* bits of enum bcore_file */
	u64 id;				/* tells re-registered names apart in the history */
	raw_spinlock_t lock;		/* the values below but target_kb */
	long total_kb;
	long free_kb;
	unsigned long reports;
	u64 last_report_ns;		/* ktime_get_mono_fast_ns() */
	long target_kb;			/* -1: unknown; READ_ONCE/xchg */
	char name[BALLOON_CORE_NAME_MAX + 1];
};

struct bcore_source_values {
	long total_kb;
	long free_kb;
	long target_kb;
	unsigned long reports;
	u64 last_report_ns;
};

int bcore_sources_init(void);
void bcore_sources_exit(void);
void bcore_source_read(struct balloon_core_source *src, struct bcore_source_values *v);
void bcore_show_sources(struct seq_file *m);
const char *bcore_reason_name(enum balloon_core_reason why);

/* Values and the meminfo-format lines shared by debugfs and /proc/meminfo. */
void bcore_show_values(struct seq_file *m);
long bcore_rejected_count(void);

/* The recent changes, for show_mem() reports (history.c). */
void bcore_history_add(const struct balloon_core_source *src, enum balloon_core_reason why,
		       long delta_total_kb, long delta_free_kb, u64 now_ns);
void bcore_history_print(void);

/* In-tree balloon drivers at work, which do not report (unreported.c). */
ssize_t bcore_unreported_sysfs(char *buf);
void bcore_unreported_debugfs(struct seq_file *m);

/* A probe that adds balloon lines to a kernel report. */
enum bcore_hook_state {
	BCORE_HOOK_DISABLED,	/* switched off by its module parameter */
	BCORE_HOOK_ATTACHED,
	BCORE_HOOK_FAILED,	/* the kernel refused the probe */
};

struct bcore_hook {
	const char *what;	/* where the lines show, for log lines */
	struct kprobe kp;	/* entry probe, tried first if it names a symbol */
	struct kretprobe krp;	/* return probe, if it names a symbol */
	const char *fallback;	/* logged when the entry probe fails */
	bool on_entry;		/* attached through kp, not krp */
	enum bcore_hook_state state;
	int err;
	unsigned long flags;	/* BCORE_HOOK_WARNED */
};

#define BCORE_HOOK_WARNED	0	/* the missed calls were logged */

void bcore_hook_attach(struct bcore_hook *hook, bool enabled);
void bcore_hook_detach(struct bcore_hook *hook);
void bcore_hook_show(struct seq_file *m, const char *name,
		     struct bcore_hook *hook);
void bcore_hook_check_missed(struct bcore_hook *hook);

extern struct bcore_hook bcore_meminfo_hook;
extern struct bcore_hook bcore_show_mem_hook;

int bcore_sysfs_init(void);
void bcore_sysfs_exit(void);
int bcore_sysfs_add_source(struct balloon_core_source *src);
void bcore_sysfs_remove_source(struct balloon_core_source *src);
void bcore_sysfs_notify(struct balloon_core_source *src, unsigned int files);
void bcore_notify_sums(unsigned int files);
void bcore_debugfs_init(void);
void bcore_debugfs_exit(void);

#endif /* BALLOON_CORE_INTERNAL_H */
