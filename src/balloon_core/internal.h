/* SPDX-License-Identifier: GPL-2.0 */
/* Internal interfaces between the parts of balloon_core. */
#ifndef BALLOON_CORE_INTERNAL_H
#define BALLOON_CORE_INTERNAL_H

#include <linux/kprobes.h>
#include <linux/seq_file.h>

/* Values and the meminfo-format lines shared by debugfs and /proc/meminfo. */
void bcore_show_values(struct seq_file *m);
long bcore_rejected_count(void);

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
void bcore_debugfs_init(void);
void bcore_debugfs_exit(void);

#endif /* BALLOON_CORE_INTERNAL_H */
