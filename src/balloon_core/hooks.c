// SPDX-License-Identifier: GPL-2.0
/*
 * Attach and detach the probes that add balloon lines to reports the kernel
 * renders itself. An entry probe is cheaper than a return probe, so a hook
 * that has one tries it first and keeps the return probe as its fallback.
 * A hook that cannot attach costs one log line, never the module load: the
 * values still show in sysfs and debugfs.
 */
#include <linux/bitops.h>
#include <linux/cpumask.h>
#include <linux/kernel.h>
#include <linux/kprobes.h>
#include <linux/seq_file.h>

#include "internal.h"

/*
 * Return probe instances: one is held from a probed call's entry to its
 * return, and a call that finds none free goes without the balloon lines.
 * Each CPU can be inside the function twice at once: show_mem() from an
 * allocation failure in an interrupt, over a report that task is printing.
 * Readers preempted inside meminfo_proc_show() or show_mem() hold theirs
 * too, however many CPUs there are: hence the floor, which on a small
 * machine costs a few KB. The kernel's own default is max(10, 2 x CPUs),
 * or just the CPU count on 5.10 without CONFIG_PREEMPTION; the pool grows
 * with CPUs squared on 6.7 and later, so the per-CPU part stays at two.
 */
#define BCORE_KRETPROBE_MIN_INSTANCES	64

static int bcore_kretprobe_instances(void)
{
	return max_t(int, 2 * num_possible_cpus(), BCORE_KRETPROBE_MIN_INSTANCES);
}

/* The function the hook is attached to, or the last one it tried. */
static const char *bcore_hook_symbol(const struct bcore_hook *hook)
{
	if (hook->on_entry || !hook->krp.kp.symbol_name)
		return hook->kp.symbol_name;
	return hook->krp.kp.symbol_name;
}

/* Calls the kernel did not hand to the hook's probe: all instances in use. */
static unsigned long bcore_hook_missed_busy(const struct bcore_hook *hook)
{
	if (hook->on_entry)
		return 0;
	return (unsigned int)READ_ONCE(hook->krp.nmissed);
}

/* ... and calls made while another kprobe's handler ran on that CPU. */
static unsigned long bcore_hook_missed_nested(const struct bcore_hook *hook)
{
	const struct kprobe *kp = hook->on_entry ? &hook->kp : &hook->krp.kp;

	return READ_ONCE(kp->nmissed);
}

/**
 * bcore_hook_check_missed() - log, once per load, that a hook missed calls
 * @hook: an attached hook
 *
 * The kernel counts a missed call where no handler of ours runs, so the
 * module can only notice later: from the hook's own handler on its next
 * call that is not missed, when debugfs is read, and at unload. The first
 * of those after the first miss logs one line; no other call logs anything.
 * The check is a few loads, cheap enough for every handler call.
 *
 * Context: Any context, including the hook's own kprobe handlers: those
 * already print (the show_mem() line), and a nested probe hit from inside
 * a handler is a counted miss in the kprobes core, never a recursion.
 */
void bcore_hook_check_missed(struct bcore_hook *hook)
{
	unsigned long busy, nested;

	if (hook->state != BCORE_HOOK_ATTACHED)
		return;
	busy = bcore_hook_missed_busy(hook);
	nested = bcore_hook_missed_nested(hook);
	if (likely(!busy && !nested))
		return;
	if (test_and_set_bit(BCORE_HOOK_WARNED, &hook->flags))
		return;
	pr_warn("the %s() hook missed %lu of its calls (%lu with every instance in use, %lu inside another probe): some %s lack the balloon values; counts in /sys/kernel/debug/balloon\n",
		bcore_hook_symbol(hook), busy + nested, busy, nested, hook->what);
}

void bcore_hook_attach(struct bcore_hook *hook, bool enabled)
{
	int entry_err = 0;

	hook->on_entry = false;
	hook->flags = 0;
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
	if (hook->krp.kp.symbol_name) {
		hook->krp.maxactive = bcore_kretprobe_instances();
		hook->err = register_kretprobe(&hook->krp);
	}
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
	/* The counters outlive the probe: the last chance to tell. */
	bcore_hook_check_missed(hook);
	hook->state = BCORE_HOOK_DISABLED;
}

void bcore_hook_show(struct seq_file *m, const char *name,
		     struct bcore_hook *hook)
{
	unsigned long busy, nested;

	switch (hook->state) {
	case BCORE_HOOK_ATTACHED:
		busy = bcore_hook_missed_busy(hook);
		nested = bcore_hook_missed_nested(hook);
		seq_printf(m, "%s: attached to %s, %lu missed (", name,
			   bcore_hook_symbol(hook), busy + nested);
		if (!hook->on_entry)
			seq_printf(m, "%lu with all %d instances in use, ", busy,
				   hook->krp.maxactive);
		seq_printf(m, "%lu inside another probe)\n", nested);
		bcore_hook_check_missed(hook);
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
