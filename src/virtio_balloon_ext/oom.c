// SPDX-License-Identifier: GPL-2.0
/*
 * DEFLATE_ON_OOM through the OOM notifier, not a shrinker: a shrinker is
 * called by ordinary reclaim, so the driver would inflate while reclaim
 * deflates it (the "busy no-op"), and dropping caches would empty the
 * balloon. The notifier runs only once reclaim has failed.
 *
 * The in-tree driver gives back oom_pages (1 MiB) per call. Each call
 * comes after a full round of failed reclaim, so a task that needs 1 GiB
 * waits through a thousand of them. Here the first call of a burst gives
 * back oom_pages too, so a single SysRq-f or a stray OOM costs the balloon
 * no more than in-tree, and each call that follows the last within
 * VBE_OOM_BURST doubles the amount, up to oom_deflate_mb: a real OOM
 * recovers in a few calls.
 */
#include <linux/moduleparam.h>
#include <linux/oom.h>

#include "vbe.h"

#define VBE_OOM_PRIORITY	80
#define VBE_OOM_MB_DEFAULT	64
#define VBE_OOM_MB_MAX		4096
#define VBE_OOM_PAGES_DEFAULT	256
/*
 * Calls closer than this are one burst. Between two calls of a real OOM
 * lies one failed reclaim round, milliseconds; an admin's SysRq-f or the
 * next unrelated OOM comes much later.
 */
#define VBE_OOM_BURST		(5 * HZ)

static unsigned int oom_deflate_mb = VBE_OOM_MB_DEFAULT;
static struct vbe_uint_range oom_deflate_mb_range = {
	.value = &oom_deflate_mb, .min = 1, .max = VBE_OOM_MB_MAX, .unit = "MiB",
};
module_param_cb(oom_deflate_mb, &vbe_range_ops, &oom_deflate_mb_range, 0644);
MODULE_PARM_DESC(oom_deflate_mb, "Most MiB one OOM notifier call gives back with DEFLATE_ON_OOM, as calls keep coming (1-4096, default 64)");

/* The in-tree driver's parameter up to 5.5: an old options line works renamed. */
static unsigned int oom_pages = VBE_OOM_PAGES_DEFAULT;
static struct vbe_uint_range oom_pages_range = {
	.value = &oom_pages, .min = 1, .max = VBE_OOM_MB_MAX << (20 - VIRTIO_BALLOON_PFN_SHIFT),
	.unit = "4 KiB pages",
};
module_param_cb(oom_pages, &vbe_range_ops, &oom_pages_range, 0644);
MODULE_PARM_DESC(oom_pages, "4 KiB pages the first OOM notifier call of a burst gives back (default 256, as the in-tree driver gives)");

/* What this call gives back: oom_pages, doubled per call of a burst. */
static unsigned long vbe_oom_amount(struct vbe *vb)
{
	unsigned long most = (unsigned long)READ_ONCE(oom_deflate_mb) <<
			     (20 - VIRTIO_BALLOON_PFN_SHIFT);
	unsigned long first = READ_ONCE(oom_pages), now = jiffies;

	if (vb->oom_amount && time_before(now, vb->oom_last + VBE_OOM_BURST))
		vb->oom_amount = min(2 * vb->oom_amount, max(most, first));
	else
		vb->oom_amount = first;
	vb->oom_last = now;
	return vb->oom_amount;
}

/*
 * Give back up to @pages 4 KiB pages through the notifier's own batch, so
 * that it never waits behind the size work; returns the guest pages freed.
 */
static unsigned long vbe_oom_deflate(struct vbe *vb, unsigned long pages)
{
	unsigned long done = 0;
	unsigned int got;

	while (done < pages && vbe_num_pages(vb)) {
		got = vbe_leak(vb, &vb->batch[VBE_B_OOM], pages - done, BALLOON_CORE_OOM);
		if (!got)
			break;	/* the rest is isolated for migration */
		done += got;
	}
	return done / VBE_PAGES_PER_PAGE;
}

static int vbe_oom_notify(struct notifier_block *nb, unsigned long unused,
			  void *parm)
{
	struct vbe *vb = container_of(nb, struct vbe, oom_nb);
	unsigned long *freed = parm;
	unsigned long pages;

	/* The kernel's oom_lock serializes calls: this never waits. */
	if (!mutex_trylock(&vb->oom_lock))
		return NOTIFY_OK;
	pages = vbe_oom_deflate(vb, vbe_oom_amount(vb));
	mutex_unlock(&vb->oom_lock);
	if (pages) {
		vbe_update_actual(vb);
		vbe_pause_inflation(vb);
	}
	atomic_long_inc(&vb->count.oom_calls);
	atomic_long_add(pages, &vb->count.oom_deflated);
	if (pages > atomic_long_read(&vb->count.oom_largest))
		atomic_long_set(&vb->count.oom_largest, pages);
	*freed += pages;
	return NOTIFY_OK;
}

int vbe_oom_register(struct vbe *vb)
{
	int err;

	vb->oom_nb.notifier_call = vbe_oom_notify;
	vb->oom_nb.priority = VBE_OOM_PRIORITY;
	err = register_oom_notifier(&vb->oom_nb);
	if (err)
		dev_err(&vb->vdev->dev, "cannot register the OOM notifier (error %d)\n", err);
	return err;
}

void vbe_oom_unregister(struct vbe *vb)
{
	unregister_oom_notifier(&vb->oom_nb);
}
