// SPDX-License-Identifier: GPL-2.0
/*
 * Attach and detach the kretprobes that add balloon lines to reports the
 * kernel renders itself. A hook that cannot attach costs one log line,
 * never the module load: the values still show in sysfs and debugfs.
 */
#include <linux/kprobes.h>
#include <linux/seq_file.h>

#include "internal.h"

void bcore_hook_attach(struct bcore_hook *hook, bool enabled)
{
	if (!enabled) {
		hook->state = BCORE_HOOK_DISABLED;
		return;
	}
	hook->err = register_kretprobe(&hook->krp);
	if (hook->err) {
		hook->state = BCORE_HOOK_FAILED;
		pr_warn("cannot hook %s() (error %d): balloon values will not show in %s\n",
			hook->krp.kp.symbol_name, hook->err, hook->what);
		return;
	}
	hook->state = BCORE_HOOK_ATTACHED;
}

void bcore_hook_detach(struct bcore_hook *hook)
{
	if (hook->state != BCORE_HOOK_ATTACHED)
		return;
	unregister_kretprobe(&hook->krp);
	hook->state = BCORE_HOOK_DISABLED;
}

void bcore_hook_show(struct seq_file *m, const char *name,
		     const struct bcore_hook *hook)
{
	switch (hook->state) {
	case BCORE_HOOK_ATTACHED:
		seq_printf(m, "%s: attached to %s, %d missed\n", name,
			   hook->krp.kp.symbol_name, hook->krp.nmissed);
		break;
	case BCORE_HOOK_FAILED:
		seq_printf(m, "%s: failed to attach to %s (error %d)\n", name,
			   hook->krp.kp.symbol_name, hook->err);
		break;
	case BCORE_HOOK_DISABLED:
		seq_printf(m, "%s: off\n", name);
		break;
	}
}
