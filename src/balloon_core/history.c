// SPDX-License-Identifier: GPL-2.0
/*
 * The balloon's recent history, printed after the Balloon line of every
 * show_mem() report:
 *
 *   Balloon recent: virtio_balloon_ext-virtio3 -64 MiB oom 0.4 s ago, +512 MiB host 12.0 s ago
 *
 * A fixed ring of changes, newest first when printed. Consecutive changes
 * of one source, for one reason and in one direction are merged, so an
 * inflation to a host's target is one entry however many reports it took.
 *
 * Reporters serialize on a raw spinlock. The printer runs inside
 * show_mem(), whose callers (the OOM killer, SysRq, panic with other CPUs
 * stopped, perhaps mid-report) may hold anything: it takes no lock and
 * reads under a seqcount, a bounded number of times.
 */
#include <linux/kernel.h>
#include <linux/math64.h>
#include <linux/printk.h>
#include <linux/seqlock.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/timekeeping.h>

#include "internal.h"

/* show_mem() lines carry no module prefix; neither does ours. */
#undef pr_fmt
#define pr_fmt(fmt) fmt

#define BCORE_HISTORY_SIZE	16	/* a power of two */
#define BCORE_HISTORY_SHOWN	4
#define BCORE_READ_TRIES	4
/* "Balloon recent: " and four entries of a 47-character name, "+-N MiB", reason, age. */
#define BCORE_HISTORY_LINE	384

struct bcore_change {
	u64 source_id;
	u64 time_ns;		/* of the latest change merged in */
	long delta_kb;		/* InflatedTotal and InflatedFree together */
	enum balloon_core_reason why;
	char name[BALLOON_CORE_NAME_MAX + 1];
};

static struct bcore_change ring[BCORE_HISTORY_SIZE];
static unsigned int changes;	/* ever added; the newest is ring[(changes - 1) % SIZE] */
static DEFINE_RAW_SPINLOCK(history_lock);
static seqcount_t history_seq = SEQCNT_ZERO(history_seq);

static bool bcore_same_run(const struct bcore_change *c, const struct balloon_core_source *src,
			   enum balloon_core_reason why, long delta_kb)
{
	return c->source_id == src->id && c->why == why &&
	       (c->delta_kb < 0) == (delta_kb < 0);
}

void bcore_history_add(const struct balloon_core_source *src, enum balloon_core_reason why,
		       long delta_total_kb, long delta_free_kb, u64 now_ns)
{
	long delta_kb = delta_total_kb + delta_free_kb;
	struct bcore_change *c;
	unsigned long flags;

	if (!delta_total_kb && !delta_free_kb)
		return;
	raw_spin_lock_irqsave(&history_lock, flags);
	write_seqcount_begin(&history_seq);
	c = &ring[(changes - 1) % BCORE_HISTORY_SIZE];
	if (changes && bcore_same_run(c, src, why, delta_kb)) {
		c->delta_kb += delta_kb;
	} else {
		c = &ring[changes++ % BCORE_HISTORY_SIZE];
		c->source_id = src->id;
		c->why = why;
		c->delta_kb = delta_kb;
		strscpy(c->name, src->name, sizeof(c->name));
	}
	c->time_ns = now_ns;
	write_seqcount_end(&history_seq);
	raw_spin_unlock_irqrestore(&history_lock, flags);
}

static size_t bcore_format_change(char *buf, size_t size, const struct bcore_change *c,
				  u64 now_ns)
{
	u64 ago_ms = now_ns > c->time_ns ? div_u64(now_ns - c->time_ns, NSEC_PER_MSEC) : 0;
	bool whole_mib = !(c->delta_kb % 1024);

	return scnprintf(buf, size, "%.*s %+ld %s %s %llu.%llu s ago", BALLOON_CORE_NAME_MAX,
			 c->name, whole_mib ? c->delta_kb / 1024 : c->delta_kb,
			 whole_mib ? "MiB" : "kB", bcore_reason_name(c->why),
			 div_u64(ago_ms, 1000), div_u64(ago_ms % 1000, 100));
}

/* The line into buf, or false if reporters kept changing the ring meanwhile. */
static bool bcore_history_line(char *buf, size_t size)
{
	unsigned int seq, total, i;
	u64 now = ktime_get_mono_fast_ns();
	size_t len;
	int tries;

	for (tries = 0; tries < BCORE_READ_TRIES; tries++) {
		seq = raw_read_seqcount(&history_seq);
		if (seq & 1)
			continue;	/* a report is half written, maybe on a stopped CPU */
		total = READ_ONCE(changes);
		len = scnprintf(buf, size, "Balloon recent:");
		if (!total)
			len += scnprintf(buf + len, size - len, " no changes");
		for (i = 0; i < min_t(unsigned int, total, BCORE_HISTORY_SHOWN); i++) {
			const struct bcore_change *c = &ring[(total - 1 - i) % BCORE_HISTORY_SIZE];

			len += scnprintf(buf + len, size - len, "%s ", i ? "," : "");
			len += bcore_format_change(buf + len, size - len, c, now);
		}
		if (!read_seqcount_retry(&history_seq, seq))
			return true;
	}
	return false;
}

void bcore_history_print(void)
{
	char buf[BCORE_HISTORY_LINE];

	if (bcore_history_line(buf, sizeof(buf)))
		pr_warn("%s\n", buf);
	else
		pr_warn("Balloon recent: changing too fast to read\n");
}
