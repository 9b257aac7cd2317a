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

	/* With the lock held no batch is in flight: borrow the first. */
	bext_balloon_migrate_insert(info, newpage, page, !vb->deflate_on_oom);
	vb->batch[0].num_pfns = 0;
	vbe_batch_add(vb, &vb->batch[0], newpage);
	vbe_batch_tell(vb, vb->vqs[VBE_VQ_INFLATE], &vb->batch[0]);

	vb->batch[0].num_pfns = 0;
	vbe_batch_add(vb, &vb->batch[0], page);
	vbe_batch_tell(vb, vb->vqs[VBE_VQ_DEFLATE], &vb->batch[0]);

	atomic_long_inc(&vb->count.migrated);
	vbe_report_inflated(vb);
	mutex_unlock(&vb->lock);

	/* Only now, with the host told, may the old page be freed. */
	bext_balloon_migrate_release(info, page);
	return MIGRATEPAGE_SUCCESS;
}
