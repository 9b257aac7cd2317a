// SPDX-License-Identifier: GPL-2.0
/*
 * Giving memory back under pressure, both opt-in, both telling the host
 * through UNLOCK:
 *  - vmwballoon_shrinker_enable, the in-tree driver's parameter: a
 *    shrinker deflates as reclaim asks;
 *  - oom_deflate: the OOM notifier deflates once reclaim has failed,
 *    oom_pages on the first call of a burst and twice as much on each
 *    call that follows within five seconds, up to oom_deflate_mb.
 * After either, inflation pauses: pressure_pause_ms after an OOM deflate
 * (5 s after a shrink, as in-tree), doubled each time pressure comes back
 * before the balloon met the host's target again, up to ten minutes, as
 * virtio_balloon_ext does. The rule counts events, not time, so it holds
 * on a host too busy to run the guest for seconds at a time.
 */
#include <linux/jiffies.h>
#include <linux/moduleparam.h>
#include <linux/oom.h>
#include <linux/printk.h>

#include "vmwb.h"

#define VMWB_SHRINK_PAUSE	(5 * HZ)
#define VMWB_PAUSE_MAX		(10 * 60 * HZ)
#define VMWB_OOM_BURST		(5 * HZ)
#define VMWB_OOM_PRIORITY	80
#define VMWB_OOM_MB_MAX		4096

static bool vmwballoon_shrinker_enable;
module_param(vmwballoon_shrinker_enable, bool, 0444);
MODULE_PARM_DESC(vmwballoon_shrinker_enable, "Deflate when reclaim asks, as the in-tree driver's option does (default off)");

static bool oom_deflate;
module_param(oom_deflate, bool, 0444);
MODULE_PARM_DESC(oom_deflate, "Deflate from the OOM notifier, once reclaim has failed (default off)");

static int vmwb_uint_set(const char *val, const struct kernel_param *kp,
			 unsigned int min, unsigned int max, const char *unit)
{
	unsigned int n;

	if (kstrtouint(val, 0, &n) || n < min || n > max) {
		pr_err("%s: '%.*s' is not a number of %s from %u to %u\n", kp->name,
		       (int)strcspn(val, "\n"), val, unit, min, max);
		return -EINVAL;
	}
	WRITE_ONCE(*(unsigned int *)kp->arg, n);
	return 0;
}

static int vmwb_oom_mb_set(const char *val, const struct kernel_param *kp)
{
	return vmwb_uint_set(val, kp, 1, VMWB_OOM_MB_MAX, "MiB");
}

static int vmwb_oom_pages_set(const char *val, const struct kernel_param *kp)
{
	return vmwb_uint_set(val, kp, 1, VMWB_OOM_MB_MAX << (20 - PAGE_SHIFT), "4 KiB pages");
}

static int vmwb_pause_ms_set(const char *val, const struct kernel_param *kp)
{
	return vmwb_uint_set(val, kp, 0, jiffies_to_msecs(VMWB_PAUSE_MAX), "ms");
}

static const struct kernel_param_ops vmwb_oom_mb_ops = {
	.set = vmwb_oom_mb_set, .get = param_get_uint,
};

static const struct kernel_param_ops vmwb_oom_pages_ops = {
	.set = vmwb_oom_pages_set, .get = param_get_uint,
};

static const struct kernel_param_ops vmwb_pause_ms_ops = {
	.set = vmwb_pause_ms_set, .get = param_get_uint,
};

static unsigned int oom_deflate_mb = 64;
module_param_cb(oom_deflate_mb, &vmwb_oom_mb_ops, &oom_deflate_mb, 0644);
MODULE_PARM_DESC(oom_deflate_mb, "Most MiB one OOM notifier call gives back, as calls keep coming (1-4096, default 64)");

static unsigned int oom_pages = 256;
module_param_cb(oom_pages, &vmwb_oom_pages_ops, &oom_pages, 0644);
MODULE_PARM_DESC(oom_pages, "4 KiB pages the first OOM notifier call of a burst gives back (default 256)");

static unsigned int pressure_pause_ms = 10000;
module_param_cb(pressure_pause_ms, &vmwb_pause_ms_ops, &pressure_pause_ms, 0644);
MODULE_PARM_DESC(pressure_pause_ms, "After an OOM deflate, inflate again no sooner than this (ms, default 10000; doubles while pressure recurs)");

bool vmwb_inflation_paused(struct vmwb *b)
{
	return time_before(jiffies, READ_ONCE(b->pause_until));
}

void vmwb_pause_inflation(struct vmwb *b, unsigned long base)
{
	unsigned long now = jiffies;

	spin_lock(&b->pause_lock);
	if (!b->pause || b->target_met)
		b->pause = base;
	else if (!time_before(now, b->pause_until))
		b->pause = min(2 * b->pause, (unsigned long)VMWB_PAUSE_MAX);
	b->target_met = false;
	WRITE_ONCE(b->pause_until, now + b->pause);
	spin_unlock(&b->pause_lock);
}

/* The balloon is where the host wants it: the next pause starts afresh. */
void vmwb_note_target_met(struct vmwb *b)
{
	spin_lock(&b->pause_lock);
	b->target_met = true;
	spin_unlock(&b->pause_lock);
}

static unsigned long vmwb_shrink_count(struct shrinker *s, struct shrink_control *sc)
{
	struct vmwb *b = bext_shrinker_priv(s);

	return atomic64_read(&b->size);
}

static unsigned long vmwb_shrink_scan(struct shrinker *s, struct shrink_control *sc)
{
	struct vmwb *b = bext_shrinker_priv(s);
	unsigned long freed;

	atomic64_inc(&b->stats.stat[VMWB_STAT_SHRINK]);
	if (!down_read_trylock(&b->conf_sem))
		return SHRINK_STOP;
	freed = vmwb_deflate(b, sc->nr_to_scan, true, false);
	up_read(&b->conf_sem);
	atomic64_add(freed, &b->stats.stat[VMWB_STAT_SHRINK_FREE]);
	if (freed) {
		vmwb_pause_inflation(b, VMWB_SHRINK_PAUSE);
		vmwb_report(b, BALLOON_CORE_PRESSURE);
	}
	return freed ? freed : SHRINK_STOP;
}

/* Called under oom_lock. */
static unsigned long vmwb_oom_amount(struct vmwb *b)
{
	unsigned long most = (unsigned long)READ_ONCE(oom_deflate_mb) << (20 - PAGE_SHIFT);
	unsigned long first = READ_ONCE(oom_pages), now = jiffies;

	if (b->oom_amount && time_before(now, b->oom_last + VMWB_OOM_BURST))
		b->oom_amount = min(2 * b->oom_amount, max(most, first));
	else
		b->oom_amount = first;
	b->oom_last = now;
	return b->oom_amount;
}

static int vmwb_oom_notify(struct notifier_block *nb, unsigned long unused, void *parm)
{
	struct vmwb *b = container_of(nb, struct vmwb, oom_nb);
	unsigned long *freed = parm, frames = 0;

	/* The kernel's oom_lock already serializes calls. */
	if (!mutex_trylock(&b->oom_lock))
		return NOTIFY_OK;
	if (down_read_trylock(&b->conf_sem)) {
		frames = vmwb_deflate(b, vmwb_oom_amount(b), true, false);
		up_read(&b->conf_sem);
	}
	mutex_unlock(&b->oom_lock);
	atomic64_inc(&b->stats.ext[VMWB_XSTAT_OOM_CALLS]);
	if (frames) {
		atomic64_add(frames, &b->stats.ext[VMWB_XSTAT_OOM_FREED]);
		vmwb_pause_inflation(b, msecs_to_jiffies(READ_ONCE(pressure_pause_ms)));
		vmwb_report(b, BALLOON_CORE_OOM);
		*freed += frames;
	}
	return NOTIFY_OK;
}

int vmwb_pressure_init(struct vmwb *b)
{
	int err;

	if (vmwballoon_shrinker_enable) {
		b->shrinker = bext_shrinker_create(vmwb_shrink_count, vmwb_shrink_scan, b,
						   "vmw-balloon-ext");
		if (IS_ERR(b->shrinker)) {
			err = PTR_ERR(b->shrinker);
			b->shrinker = NULL;
			pr_err("cannot register the shrinker (error %d)\n", err);
			return err;
		}
	}
	if (oom_deflate) {
		b->oom_nb.notifier_call = vmwb_oom_notify;
		b->oom_nb.priority = VMWB_OOM_PRIORITY;
		err = register_oom_notifier(&b->oom_nb);
		if (err) {
			pr_err("cannot register the OOM notifier (error %d)\n", err);
			vmwb_pressure_exit(b);
			return err;
		}
		b->oom_registered = true;
	}
	return 0;
}

void vmwb_pressure_exit(struct vmwb *b)
{
	if (b->oom_registered)
		unregister_oom_notifier(&b->oom_nb);
	b->oom_registered = false;
	if (b->shrinker)
		bext_shrinker_destroy(b->shrinker);
	b->shrinker = NULL;
}
