// SPDX-License-Identifier: GPL-2.0
/*
 * Sources: one per balloon driver or device, each with its own amounts.
 *
 * Every value shown is a sum over the sources. The sums are kept as
 * atomics that each report moves by the source's change, so readers (the
 * meminfo and show_mem hooks, in any context) read two words and take no
 * lock. A source's own pair is updated under its raw spinlock, so two
 * reports of one source never interleave their old/new values.
 */
#include <linux/atomic.h>
#include <linux/ctype.h>
#include <linux/err.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/timekeeping.h>

#include "balloon_core.h"
#include "internal.h"

#define CREATE_TRACE_POINTS
#include "balloon_core_trace.h"

static_assert(sizeof(((struct balloon_core_source *)NULL)->name) == BCORE_TRACE_NAME_SIZE);

static atomic_long_t sum_total_kb = ATOMIC_LONG_INIT(0);
static atomic_long_t sum_free_kb = ATOMIC_LONG_INIT(0);
static atomic_long_t rejected = ATOMIC_LONG_INIT(0);
static atomic64_t next_id = ATOMIC64_INIT(0);

/* Registration and the listings; never taken by a reporter. */
static DEFINE_MUTEX(sources_lock);
static LIST_HEAD(sources);

static struct balloon_core_source *legacy;

static const char *const reason_names[BALLOON_CORE_NR_REASONS] = {
	[BALLOON_CORE_HOST] = "host",
	[BALLOON_CORE_OOM] = "oom",
	[BALLOON_CORE_PRESSURE] = "pressure",
	[BALLOON_CORE_MIGRATION] = "migration",
	[BALLOON_CORE_RESET] = "reset",
	[BALLOON_CORE_REMOVE] = "remove",
	[BALLOON_CORE_OTHER] = "other",
};

const char *bcore_reason_name(enum balloon_core_reason why)
{
	return (unsigned int)why < BALLOON_CORE_NR_REASONS ? reason_names[why] : "other";
}

/* A sum of values that are each at most LONG_MAX may pass it: saturate. */
static long bcore_sum(atomic_long_t *sum)
{
	long kb = atomic_long_read(sum);

	return kb < 0 ? LONG_MAX : kb;
}

/**
 * balloon_get_inflated_total() - InflatedTotal, summed over every source
 *
 * Context: Any context.
 * Return: the sum of the sources' last accepted InflatedTotal, in kB, at most
 * LONG_MAX.
 */
long balloon_get_inflated_total(void)
{
	return bcore_sum(&sum_total_kb);
}
EXPORT_SYMBOL_GPL(balloon_get_inflated_total);

/**
 * balloon_get_inflated_free() - InflatedFree, summed over every source
 *
 * Context: Any context.
 * Return: the sum of the sources' last accepted InflatedFree, in kB, at most
 * LONG_MAX.
 */
long balloon_get_inflated_free(void)
{
	return bcore_sum(&sum_free_kb);
}
EXPORT_SYMBOL_GPL(balloon_get_inflated_free);

long bcore_rejected_count(void)
{
	return atomic_long_read(&rejected);
}

/* A sysfs directory name that also reads well in a log line. */
static int bcore_check_name(const char *name)
{
	size_t len, i;

	if (!name)
		return -EINVAL;
	len = strnlen(name, BALLOON_CORE_NAME_MAX + 1);
	if (len == 0 || len > BALLOON_CORE_NAME_MAX)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		if (!isalnum(name[i]) && !strchr("_-.:", name[i]))
			return -EINVAL;
	}
	if (name[0] == '.')	/* "." and "..", and hidden names */
		return -EINVAL;
	return 0;
}

static struct balloon_core_source *bcore_find(const char *name)
{
	struct balloon_core_source *src;

	lockdep_assert_held(&sources_lock);
	list_for_each_entry(src, &sources, node) {
		if (!strcmp(src->name, name))
			return src;
	}
	return NULL;
}

/**
 * balloon_core_register() - add a source of balloon amounts
 * @name: which driver and device, e.g. "virtio_balloon_ext-virtio3"; up to
 *	BALLOON_CORE_NAME_MAX characters of [A-Za-z0-9_.:-], not starting
 *	with a dot, since it names a sysfs directory
 *
 * The source starts at zero and shows in debugfs and under
 * /sys/kernel/balloon/sources/@name/ until balloon_core_unregister().
 * A bad name is refused with -EINVAL, a name already registered with
 * -EEXIST; both are logged.
 *
 * Context: Process context; may sleep.
 * Return: the source, or an ERR_PTR().
 */
struct balloon_core_source *balloon_core_register(const char *name)
{
	struct balloon_core_source *src;
	int err;

	err = bcore_check_name(name);
	if (err) {
		pr_warn_ratelimited("%ps: refused source name \"%.*s\": use 1 to %d of [A-Za-z0-9_.:-], not starting with '.'\n",
				    __builtin_return_address(0), BALLOON_CORE_NAME_MAX + 1,
				    name ? name : "(null)", BALLOON_CORE_NAME_MAX);
		return ERR_PTR(err);
	}
	src = kzalloc(sizeof(*src), GFP_KERNEL);
	if (!src)
		return ERR_PTR(-ENOMEM);
	strscpy(src->name, name, sizeof(src->name));
	raw_spin_lock_init(&src->lock);
	src->target_kb = -1;
	src->id = atomic64_inc_return(&next_id);

	mutex_lock(&sources_lock);
	if (bcore_find(name)) {
		mutex_unlock(&sources_lock);
		pr_warn_ratelimited("%ps: source \"%s\" is registered already\n",
				    __builtin_return_address(0), name);
		kfree(src);
		return ERR_PTR(-EEXIST);
	}
	err = bcore_sysfs_add_source(src);	/* frees src on error */
	if (err) {
		mutex_unlock(&sources_lock);
		pr_warn("cannot create the sysfs directory of source \"%s\" (error %d)\n",
			name, err);
		return ERR_PTR(err);
	}
	list_add_tail(&src->node, &sources);
	mutex_unlock(&sources_lock);
	return src;
}
EXPORT_SYMBOL_GPL(balloon_core_register);

/* Move the sums by the source's change; the caller holds src->lock. */
static void bcore_apply(struct balloon_core_source *src, long total_kb, long free_kb,
			enum balloon_core_reason why)
{
	long old_total = src->total_kb, old_free = src->free_kb;

	lockdep_assert_held(&src->lock);
	src->total_kb = total_kb;
	src->free_kb = free_kb;
	src->reports++;
	src->last_report_ns = ktime_get_mono_fast_ns();
	atomic_long_add(total_kb - old_total, &sum_total_kb);
	atomic_long_add(free_kb - old_free, &sum_free_kb);
	bcore_history_add(src, why, total_kb - old_total, free_kb - old_free,
			  src->last_report_ns);
	trace_balloon_core_report(src->name, why, old_total, total_kb, old_free, free_kb);
}

/**
 * balloon_core_unregister() - remove a source
 * @src: from balloon_core_register(); NULL and ERR_PTR() values are ignored
 *
 * Its amounts leave every sum at once (recorded in the history as
 * "remove"), and its sysfs directory goes. The driver must not report to
 * @src any more.
 *
 * Context: Process context; may sleep.
 */
void balloon_core_unregister(struct balloon_core_source *src)
{
	unsigned long flags;

	if (IS_ERR_OR_NULL(src))
		return;
	mutex_lock(&sources_lock);
	list_del(&src->node);
	mutex_unlock(&sources_lock);
	raw_spin_lock_irqsave(&src->lock, flags);
	bcore_apply(src, 0, 0, BALLOON_CORE_REMOVE);
	raw_spin_unlock_irqrestore(&src->lock, flags);
	bcore_notify_sums(BIT(BCORE_FILE_TOTAL) | BIT(BCORE_FILE_FREE));
	bcore_sysfs_remove_source(src);	/* the last reference frees it */
}
EXPORT_SYMBOL_GPL(balloon_core_unregister);

static bool bcore_accept(struct balloon_core_source *src, const char *what, long kb,
			 long old_kb, void *caller)
{
	if (likely(kb >= 0))
		return true;
	atomic_long_inc(&rejected);
	pr_warn_ratelimited("rejected negative %s of %ld kB from %pS; keeping %ld kB (source %s)\n",
			    what, kb, caller, old_kb, src->name);
	return false;
}

/*
 * Replace the halves of @src named in @which (bits of BCORE_FILE_TOTAL and
 * BCORE_FILE_FREE), keeping the other, as one step under the source's lock.
 */
static void bcore_report(struct balloon_core_source *src, long total_kb, long free_kb,
			 unsigned int which, enum balloon_core_reason why, void *caller)
{
	unsigned int changed = 0;
	unsigned long flags;

	if (((which & BIT(BCORE_FILE_TOTAL)) &&
	     !bcore_accept(src, "InflatedTotal", total_kb, READ_ONCE(src->total_kb), caller)) ||
	    ((which & BIT(BCORE_FILE_FREE)) &&
	     !bcore_accept(src, "InflatedFree", free_kb, READ_ONCE(src->free_kb), caller)))
		return;
	if ((unsigned int)why >= BALLOON_CORE_NR_REASONS)
		why = BALLOON_CORE_OTHER;
	raw_spin_lock_irqsave(&src->lock, flags);
	if (!(which & BIT(BCORE_FILE_TOTAL)))
		total_kb = src->total_kb;
	if (!(which & BIT(BCORE_FILE_FREE)))
		free_kb = src->free_kb;
	if (total_kb != src->total_kb)
		changed |= BIT(BCORE_FILE_TOTAL);
	if (free_kb != src->free_kb)
		changed |= BIT(BCORE_FILE_FREE);
	bcore_apply(src, total_kb, free_kb, why);
	raw_spin_unlock_irqrestore(&src->lock, flags);
	/* Pollers wake from an irq_work, whatever the reporter's context. */
	bcore_sysfs_notify(src, changed | BIT(BCORE_FILE_REPORTS));
	bcore_notify_sums(changed);
}

/**
 * balloon_core_report() - a source's whole inflated amounts, and why they changed
 * @src: from balloon_core_register()
 * @inflated_total_kb: ballooned memory the driver took out of MemTotal, in kB
 * @inflated_free_kb: ballooned memory still counted in MemTotal, as used, in kB
 * @why: what moved the balloon, for the history and the tracepoint
 *
 * The values replace the source's previous ones; they are not deltas. A
 * negative value is refused with a rate-limited warning naming the
 * caller, and the source keeps both previous values. Each call counts as
 * a report and fires the balloon_core:balloon_core_report tracepoint; a
 * change is added to the history that show_mem() reports print.
 *
 * Context: Any context but NMI: spinlocks held, interrupts off, the OOM
 * notifier. Does not sleep or allocate.
 */
void balloon_core_report(struct balloon_core_source *src, long inflated_total_kb,
			 long inflated_free_kb, enum balloon_core_reason why)
{
	bcore_report(src, inflated_total_kb, inflated_free_kb,
		     BIT(BCORE_FILE_TOTAL) | BIT(BCORE_FILE_FREE), why,
		     __builtin_return_address(0));
}
EXPORT_SYMBOL_GPL(balloon_core_report);

/**
 * balloon_core_set_target() - what the host asked the source to hold
 * @src: from balloon_core_register()
 * @target_kb: the host's target in kB, or -1 if unknown
 *
 * Shown beside the source's amounts, so an admin sees a balloon that
 * lags behind its host. Values below -1 are refused with a warning.
 *
 * Context: Any context but NMI; does not sleep.
 */
void balloon_core_set_target(struct balloon_core_source *src, long target_kb)
{
	if (target_kb < -1) {
		atomic_long_inc(&rejected);
		pr_warn_ratelimited("%s: rejected target of %ld kB from %pS; keeping %ld kB\n",
				    src->name, target_kb, __builtin_return_address(0),
				    READ_ONCE(src->target_kb));
		return;
	}
	if (xchg(&src->target_kb, target_kb) != target_kb)
		bcore_sysfs_notify(src, BIT(BCORE_FILE_TARGET));
}
EXPORT_SYMBOL_GPL(balloon_core_set_target);

/**
 * balloon_set_inflated_total() - report memory ballooned out of MemTotal
 * @inflated_kb: the driver's whole inflated amount, in kB; not a delta
 *
 * The seed series' interface, kept for drivers written against it: it
 * sets InflatedTotal of the built-in source "legacy", keeping its
 * InflatedFree, in one step with any concurrent setter. New drivers
 * register a source of their own (balloon_core_register()). A negative
 * value is rejected with a rate-limited warning that names the caller,
 * and the previous value is kept.
 *
 * Context: Any context but NMI; does not sleep.
 */
void balloon_set_inflated_total(long inflated_kb)
{
	bcore_report(legacy, inflated_kb, 0, BIT(BCORE_FILE_TOTAL), BALLOON_CORE_OTHER,
		     __builtin_return_address(0));
}
EXPORT_SYMBOL_GPL(balloon_set_inflated_total);

/**
 * balloon_set_inflated_free() - report ballooned memory still counted as used
 * @inflated_kb: the driver's whole inflated amount, in kB; not a delta
 *
 * As balloon_set_inflated_total(), for InflatedFree of the source "legacy".
 *
 * Context: Any context but NMI; does not sleep.
 */
void balloon_set_inflated_free(long inflated_kb)
{
	bcore_report(legacy, 0, inflated_kb, BIT(BCORE_FILE_FREE), BALLOON_CORE_OTHER,
		     __builtin_return_address(0));
}
EXPORT_SYMBOL_GPL(balloon_set_inflated_free);

/* One debugfs line per source. */
void bcore_show_sources(struct seq_file *m)
{
	struct balloon_core_source *src;
	u64 now = ktime_get_mono_fast_ns();

	mutex_lock(&sources_lock);
	list_for_each_entry(src, &sources, node) {
		struct bcore_source_values v;

		bcore_source_read(src, &v);
		seq_printf(m, "source: %s inflated_total_kb=%ld inflated_free_kb=%ld target_kb=%ld reports=%lu",
			   src->name, v.total_kb, v.free_kb, v.target_kb, v.reports);
		if (v.reports)
			seq_printf(m, " last_report_ms_ago=%llu\n",
				   div_u64(now - v.last_report_ns, NSEC_PER_MSEC));
		else
			seq_puts(m, " last_report_ms_ago=-\n");
	}
	mutex_unlock(&sources_lock);
}

void bcore_source_read(struct balloon_core_source *src, struct bcore_source_values *v)
{
	unsigned long flags;

	raw_spin_lock_irqsave(&src->lock, flags);
	v->total_kb = src->total_kb;
	v->free_kb = src->free_kb;
	v->reports = src->reports;
	v->last_report_ns = src->last_report_ns;
	raw_spin_unlock_irqrestore(&src->lock, flags);
	v->target_kb = READ_ONCE(src->target_kb);
}

int bcore_sources_init(void)
{
	legacy = balloon_core_register("legacy");
	return PTR_ERR_OR_ZERO(legacy);
}

/*
 * Drivers using our symbols are gone before we can unload; one that never
 * unregistered its source leaves it here, taken down with a warning.
 */
void bcore_sources_exit(void)
{
	struct balloon_core_source *src;

	balloon_core_unregister(legacy);
	for (;;) {
		mutex_lock(&sources_lock);
		src = list_first_entry_or_null(&sources, struct balloon_core_source, node);
		mutex_unlock(&sources_lock);
		if (!src)
			break;
		pr_warn("source \"%s\" was never unregistered; removing it\n", src->name);
		balloon_core_unregister(src);
	}
}
