/* SPDX-License-Identifier: GPL-2.0 */
/*
 * balloon_core: tell the admin how much memory the hypervisor took.
 *
 * Balloon drivers report two amounts, in kB:
 *  - InflatedTotal: ballooned memory taken out of MemTotal (the driver
 *    adjusts managed pages);
 *  - InflatedFree: ballooned memory that stays counted as used (the driver
 *    does not adjust managed pages).
 *
 * Each driver (or device) registers a source and reports its own amounts;
 * balloon_core shows their sums in debugfs, sysfs, /proc/meminfo and every
 * show_mem() report, each source on its own in debugfs and sysfs, and the
 * recent changes in every show_mem() report. docs/balloon_core.md has the
 * whole story for a driver author.
 */
#ifndef BALLOON_CORE_H
#define BALLOON_CORE_H

/* Why a source's amounts changed: shown in the history and the tracepoint. */
enum balloon_core_reason {
	BALLOON_CORE_HOST,	/* the host asked for a new size */
	BALLOON_CORE_OOM,	/* the OOM notifier deflated */
	BALLOON_CORE_PRESSURE,	/* a shrinker or pressure signal deflated */
	BALLOON_CORE_MIGRATION,	/* pages moved in or out by migration */
	BALLOON_CORE_RESET,	/* the device was reset (freeze, restore) */
	BALLOON_CORE_REMOVE,	/* the device went away */
	BALLOON_CORE_OTHER,
	BALLOON_CORE_NR_REASONS
};

/* The longest name a source may have, without the terminating NUL. */
#define BALLOON_CORE_NAME_MAX	47

struct balloon_core_source;

struct balloon_core_source *balloon_core_register(const char *name);
void balloon_core_unregister(struct balloon_core_source *src);
void balloon_core_report(struct balloon_core_source *src, long inflated_total_kb,
			 long inflated_free_kb, enum balloon_core_reason why);
void balloon_core_set_target(struct balloon_core_source *src, long target_kb);

/* The seed's interface: one built-in source named "legacy". */
void balloon_set_inflated_total(long inflated_kb);
void balloon_set_inflated_free(long inflated_kb);

/* Sums over every source. */
long balloon_get_inflated_total(void);
long balloon_get_inflated_free(void);

#endif /* BALLOON_CORE_H */
