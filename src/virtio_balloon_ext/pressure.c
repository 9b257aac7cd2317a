// SPDX-License-Identifier: GPL-2.0
/*
 * Memory pressure: auto-deflate (opt-in) and the pause on re-inflation.
 *
 * With auto_deflate=1 and DEFLATE_ON_OOM, a shrinker gives balloon pages
 * back while reclaim runs, before the OOM killer is near, as in the 2012
 * auto-ballooning RFC. That RFC's trap, the "busy no-op" reported in 2020,
 * is the driver inflating again into the memory reclaim just freed, so
 * that reclaim deflates it again. Three rules keep it out:
 *  - the shrinker never deflates for the driver's own inflation
 *    allocations (vb->filler);
 *  - it deflates only while MemAvailable is below a sixteenth of RAM:
 *    while page cache can still be reclaimed, that goes first, and
 *    dropping caches (drop_slab() calls every shrinker) leaves the
 *    balloon alone;
 *  - any deflate under pressure, auto or OOM, pauses re-inflation for
 *    pressure_pause_ms, doubled each time pressure comes back before the
 *    balloon got to the host's target again, up to ten minutes. The host
 *    sees the smaller balloon in `actual` meanwhile and may lower its
 *    target; if it does not, the driver inflates toward it again once the
 *    pause is over.
 */
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/sched.h>

#include "vbe.h"

/* At least this much per shrinker call: its default batch is 512 KiB. */
#define VBE_AUTO_MIN_PAGES	(SZ_16M >> VIRTIO_BALLOON_PFN_SHIFT)
#define VBE_PAUSE_MAX_MS	(10 * 60 * MSEC_PER_SEC)

static bool auto_deflate;
module_param(auto_deflate, bool, 0444);
MODULE_PARM_DESC(auto_deflate, "Give balloon pages back under memory pressure, before OOM (needs DEFLATE_ON_OOM; default off)");

static unsigned int pressure_pause_ms = 10 * MSEC_PER_SEC;
static struct vbe_uint_range pressure_pause_ms_range = {
	.value = &pressure_pause_ms, .min = 0, .max = VBE_PAUSE_MAX_MS, .unit = "ms",
};
module_param_cb(pressure_pause_ms, &vbe_range_ops, &pressure_pause_ms_range, 0644);
MODULE_PARM_DESC(pressure_pause_ms, "After a deflate under memory pressure, inflate again no sooner than this (ms, default 10000; doubles while pressure recurs)");

/*
 * A deflate under pressure: no inflation for a pause from now. Pressure
 * during a pause restarts it. Pressure after it, while the balloon has not
 * reached the host's target since, means going back toward that target
 * brought it back: the next pause is twice as long. Only a target reached
 * (the host lowered it, or the guest found the memory) starts again from
 * the base. The rule counts events, not time, so it holds the same on a
 * host too busy to run the guest for seconds at a time.
 */
void vbe_pause_inflation(struct vbe *vb)
{
	unsigned long now = jiffies, pause;

	spin_lock(&vb->pause_lock);
	pause = vb->pause;
	if (!pause || vb->target_met)
		pause = msecs_to_jiffies(READ_ONCE(pressure_pause_ms));
	else if (time_after_eq(now, vb->resume_at))
		pause = min(2 * pause, msecs_to_jiffies(VBE_PAUSE_MAX_MS));
	vb->pause = pause;
	vb->resume_at = now + pause;
	vb->target_met = false;
	spin_unlock(&vb->pause_lock);
	WRITE_ONCE(vb->pressure_deflated, true);
	atomic_long_inc(&vb->count.inflate_pauses);
	/* The host's target still stands: go back toward it afterwards. */
	if (vbe_towards_target(vb) > 0)
		vbe_queue_size_work(vb, pause + 1);
}

/* The balloon is at the host's target: the next pressure starts afresh. */
void vbe_target_met(struct vbe *vb)
{
	spin_lock(&vb->pause_lock);
	vb->target_met = true;
	spin_unlock(&vb->pause_lock);
}

/* Jiffies until inflation may go on; 0 if it may now. */
unsigned long vbe_inflation_paused(struct vbe *vb)
{
	unsigned long left = 0, now = jiffies;

	spin_lock(&vb->pause_lock);
	if (vb->pause && time_before(now, vb->resume_at))
		left = vb->resume_at - now;
	spin_unlock(&vb->pause_lock);
	return left;
}

/* Only this short of memory is pressure the balloon should give way to. */
static bool vbe_memory_short(void)
{
	return si_mem_available() < (long)(totalram_pages() / 16);
}

static unsigned long vbe_auto_count(struct shrinker *s, struct shrink_control *sc)
{
	struct vbe *vb = bext_shrinker_priv(s);

	/* Reclaim for our own inflation must not deflate us. */
	if (current == READ_ONCE(vb->filler) || !vbe_memory_short())
		return 0;
	return vbe_num_pages(vb) / VBE_PAGES_PER_PAGE;
}

/*
 * Reclaim can call this with filesystem locks held, from kswapd or from any
 * allocating task: it never sleeps and never waits for a lock or the host.
 * The pages are freed as soon as their deflate request is on the queue,
 * which the spec allows without MUST_TELL_HOST; the next call reuses the
 * batch only once the host has read it.
 */
static unsigned long vbe_auto_scan(struct shrinker *s, struct shrink_control *sc)
{
	struct vbe *vb = bext_shrinker_priv(s);
	struct vbe_batch *b = &vb->batch[VBE_B_AUTO];
	unsigned long want, freed = 0;

	if (!vbe_memory_short())
		return SHRINK_STOP;
	if (!mutex_trylock(&vb->auto_lock))
		return SHRINK_STOP;	/* another reclaimer is at it */
	if (vbe_batch_done(vb, vb->vqs[VBE_VQ_DEFLATE], b)) {
		want = max_t(unsigned long, sc->nr_to_scan * VBE_PAGES_PER_PAGE,
			     VBE_AUTO_MIN_PAGES);
		freed = vbe_leak_nowait(vb, b, want, BALLOON_CORE_PRESSURE);
	}
	mutex_unlock(&vb->auto_lock);
	atomic_long_inc(&vb->count.auto_calls);
	if (!freed)
		return SHRINK_STOP;
	atomic_long_add(freed, &vb->count.auto_deflated);
	vbe_pause_inflation(vb);
	/* The size work tells the host the new size: config writes may sleep. */
	vbe_queue_size_work(vb, 0);
	return freed;
}

int vbe_auto_deflate_start(struct vbe *vb)
{
	if (!auto_deflate)
		return 0;
	if (!vb->deflate_on_oom) {
		dev_info(&vb->vdev->dev, "auto_deflate needs the host's DEFLATE_ON_OOM; staying off\n");
		return 0;
	}
	/* Reclaim cannot wait for the host to be told before pages are reused. */
	if (vbe_has(vb, VIRTIO_BALLOON_F_MUST_TELL_HOST)) {
		dev_info(&vb->vdev->dev, "auto_deflate needs a host without MUST_TELL_HOST; staying off\n");
		return 0;
	}
	vb->auto_shrinker = bext_shrinker_create(vbe_auto_count, vbe_auto_scan, vb,
						 "virtio-balloon-ext-auto");
	if (IS_ERR(vb->auto_shrinker)) {
		int err = PTR_ERR(vb->auto_shrinker);

		vb->auto_shrinker = NULL;
		dev_err(&vb->vdev->dev, "cannot register the auto-deflate shrinker (error %d)\n",
			err);
		return err;
	}
	return 0;
}

void vbe_auto_deflate_stop(struct vbe *vb)
{
	if (vb->auto_shrinker) {
		bext_shrinker_destroy(vb->auto_shrinker);
		vb->auto_shrinker = NULL;
	}
}
