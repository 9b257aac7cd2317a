// SPDX-License-Identifier: GPL-2.0
/*
 * DEFLATE_ON_OOM through the OOM notifier, not a shrinker: a shrinker is
 * called by ordinary reclaim, so the driver would inflate while reclaim
 * deflates it (the "busy no-op"), and dropping caches would empty the
 * balloon. The notifier runs only once reclaim has failed.
 */
#include <linux/oom.h>

#include "vbe.h"

/* 4 KiB pages given back per OOM notifier call, as the in-tree driver does. */
#define VBE_OOM_PAGES		256
#define VBE_OOM_PRIORITY	80

static int vbe_oom_notify(struct notifier_block *nb, unsigned long unused,
			  void *parm)
{
	struct vbe *vb = container_of(nb, struct vbe, oom_nb);
	unsigned long *freed = parm;
	unsigned int pages = vbe_leak(vb, VBE_OOM_PAGES) / VBE_PAGES_PER_PAGE;

	vbe_update_actual(vb);
	atomic_long_add(pages, &vb->count.oom_deflated);
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
