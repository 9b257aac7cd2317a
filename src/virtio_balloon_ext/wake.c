// SPDX-License-Identifier: GPL-2.0
/*
 * A wakeup source held from the host's request (a new target, a stats
 * request) until the work item has answered it, so that a guest that
 * suspends when idle (Android, ChromeOS) does not sleep with the host's
 * request unanswered. The in-tree driver does the same since 6.9.
 */
#include <linux/pm_wakeup.h>

#include "vbe.h"

int vbe_wake_init(struct vbe *vb)
{
	spin_lock_init(&vb->wake_lock);
	vb->ws = wakeup_source_register(&vb->vdev->dev, KBUILD_MODNAME);
	if (!vb->ws) {
		dev_err(&vb->vdev->dev, "cannot register a wakeup source\n");
		return -ENOMEM;
	}
	return 0;
}

void vbe_wake_exit(struct vbe *vb)
{
	vbe_wake_done(vb, ~0U);
	wakeup_source_unregister(vb->ws);
}

/* The host asked for @why (VBE_WAKE_*); any context. */
void vbe_wake_hold(struct vbe *vb, unsigned int why)
{
	unsigned long flags;

	spin_lock_irqsave(&vb->wake_lock, flags);
	if (!vb->wake_reasons)
		__pm_stay_awake(vb->ws);
	vb->wake_reasons |= why;
	spin_unlock_irqrestore(&vb->wake_lock, flags);
}

/* The work item is done with @why. */
void vbe_wake_done(struct vbe *vb, unsigned int why)
{
	unsigned long flags;

	spin_lock_irqsave(&vb->wake_lock, flags);
	if (vb->wake_reasons & why) {
		vb->wake_reasons &= ~why;
		if (!vb->wake_reasons)
			__pm_relax(vb->ws);
	}
	spin_unlock_irqrestore(&vb->wake_lock, flags);
}
