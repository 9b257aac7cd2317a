// SPDX-License-Identifier: GPL-2.0
/*
 * Balloon pages are movable: compaction hands us an isolated balloon page
 * and a new page to take its place. The host learns of both, the new page
 * first, so it never sees the balloon shrink.
 */
#include <linux/mm.h>

#include "vbe.h"

int vbe_migratepage(struct balloon_dev_info *info, struct page *newpage,
		    struct page *page, enum migrate_mode mode)
{
	struct vbe *vb = container_of(info, struct vbe, balloon.info);

	/* Inflating or deflating holds the lock for a while: try again later. */
	if (!mutex_trylock(&vb->lock))
		return -EAGAIN;

	bext_balloon_migrate_insert(info, newpage, page, !vb->deflate_on_oom);
	vb->num_pfns = 0;
	vbe_add_pfns(vb, newpage);
	vbe_tell_host(vb, vb->vqs[VBE_VQ_INFLATE]);

	vb->num_pfns = 0;
	vbe_add_pfns(vb, page);
	vbe_tell_host(vb, vb->vqs[VBE_VQ_DEFLATE]);

	atomic_long_inc(&vb->count.migrated);
	vbe_report_inflated(vb);
	mutex_unlock(&vb->lock);

	/* Only now, with the host told, may the old page be freed. */
	bext_balloon_migrate_release(info, page);
	return MIGRATEPAGE_SUCCESS;
}
