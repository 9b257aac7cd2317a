// SPDX-License-Identifier: GPL-2.0
/*
 * Attach and detach the probes that add balloon lines to reports the kernel
 * renders itself. An entry probe is cheaper than a return probe, so a hook
 * that has one tries it first and keeps the return probe as its fallback.
 * A hook that cannot attach costs one log line, never the module load: the
 * values still show in sysfs and debugfs.
 */
#include <linux/kprobes.h>
#include <linux/seq_file.h>

#include "internal.h"

/* The function the hook is attached to, or the last one it tried. */
static const char *bcore_hook_symbol(const struct bcore_hook *hook)
{
	if (hook->on_entry || !hook->krp.kp.symbol_name)
		return hook->kp.symbol_name;
	return hook->krp.kp.symbol_name;
}

void bcore_hook_attach(struct bcore_hook *hook, bool enabled)
{
	int entry_err = 0;

	hook->on_entry = false;
	if (!enabled) {
		hook->state = BCORE_HOOK_DISABLED;
		return;
	}
	hook->err = -ENOENT;	/* kept if neither probe names a symbol */
	if (hook->kp.symbol_name) {
		hook->err = register_kprobe(&hook->kp);
		if (!hook->err) {
			hook->on_entry = true;
			hook->state = BCORE_HOOK_ATTACHED;
			return;
		}
		entry_err = hook->err;
	}
	if (hook->krp.kp.symbol_name)
		hook->err = register_kretprobe(&hook->krp);
	if (hook->err) {
		hook->state = BCORE_HOOK_FAILED;
		if (entry_err && hook->krp.kp.symbol_name)
			pr_warn("cannot hook %s() (error %d) nor %s() (error %d): balloon values will not show in %s\n",
				hook->kp.symbol_name, entry_err,
				hook->krp.kp.symbol_name, hook->err, hook->what);
		else
			pr_warn("cannot hook %s() (error %d): balloon values will not show in %s\n",
				bcore_hook_symbol(hook), hook->err, hook->what);
		return;
	}
	hook->state = BCORE_HOOK_ATTACHED;
	/* Only now that the fallback works does the log line say so. */
	if (entry_err)
		pr_info("cannot hook %s() (error %d): %s\n", hook->kp.symbol_name,
			entry_err, hook->fallback);
}

void bcore_hook_detach(struct bcore_hook *hook)
{
	if (hook->state != BCORE_HOOK_ATTACHED)
		return;
	if (hook->on_entry)
		unregister_kprobe(&hook->kp);
	else
		unregister_kretprobe(&hook->krp);
	hook->state = BCORE_HOOK_DISABLED;
}

void bcore_hook_show(struct seq_file *m, const char *name,
		     const struct bcore_hook *hook)
{
	switch (hook->state) {
	case BCORE_HOOK_ATTACHED:
		seq_printf(m, "%s: attached to %s, %lu missed\n", name,
			   bcore_hook_symbol(hook),
			   hook->on_entry ? hook->kp.nmissed :
					    (unsigned long)hook->krp.nmissed);
		break;
	case BCORE_HOOK_FAILED:
		seq_printf(m, "%s: failed to attach to %s (error %d)\n", name,
			   bcore_hook_symbol(hook), hook->err);
		break;
	case BCORE_HOOK_DISABLED:
		seq_printf(m, "%s: off\n", name);
		break;
	}
}
