// SPDX-License-Identifier: GPL-2.0
/*
 * What balloon_core shows: one source per device, named after it
 * ("virtio_balloon_ext-virtio3"). With DEFLATE_ON_OOM the ballooned pages
 * stay in MemTotal and count as used: InflatedFree. Without it they leave
 * MemTotal: InflatedTotal.
 */
#include <linux/err.h>
#include <linux/spinlock.h>

#include "balloon_core.h"
#include "vbe.h"

long vbe_inflated_kb(const struct vbe *vb)
{
	return (long)vbe_num_pages(vb) << (VIRTIO_BALLOON_PFN_SHIFT - 10);
}

int vbe_source_register(struct vbe *vb)
{
	char name[BALLOON_CORE_NAME_MAX + 1];

	snprintf(name, sizeof(name), KBUILD_MODNAME "-%s", dev_name(&vb->vdev->dev));
	vb->source = balloon_core_register(name);
	if (IS_ERR(vb->source)) {
		dev_err(&vb->vdev->dev, "cannot register with balloon_core as %s (error %ld)\n",
			name, PTR_ERR(vb->source));
		return PTR_ERR(vb->source);
	}
	return 0;
}

void vbe_source_unregister(struct vbe *vb)
{
	balloon_core_unregister(vb->source);
	vb->source = NULL;
}

/*
 * The page count is read under report_lock, so that of two reports racing
 * (the size work and the OOM notifier) the later one carries the later
 * count.
 */
void vbe_report_inflated(struct vbe *vb, enum balloon_core_reason why)
{
	unsigned long flags;
	long kb;

	spin_lock_irqsave(&vb->report_lock, flags);
	kb = vbe_inflated_kb(vb);
	if (vb->deflate_on_oom)
		balloon_core_report(vb->source, 0, kb, why);
	else
		balloon_core_report(vb->source, kb, 0, why);
	spin_unlock_irqrestore(&vb->report_lock, flags);
}

/* The host's num_pages, in kB. */
void vbe_report_target(struct vbe *vb, u32 target_pages)
{
	balloon_core_set_target(vb->source, (long)target_pages << (VIRTIO_BALLOON_PFN_SHIFT - 10));
}
