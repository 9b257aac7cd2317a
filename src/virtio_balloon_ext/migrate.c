// SPDX-License-Identifier: GPL-2.0
/*
 * Balloon pages are movable: compaction hands us an isolated balloon page
 * and a new page to take its place. The host learns of both, the new page
 * first, so it never sees the balloon shrink; only then does the new page
 * join the balloon and the old one leave it.
 */
#include <linux/mm.h>

#include "vbe.h"

/*
 * Tell the host of @page on @vq through migration's batch, and wait. The
 * page's lru is not ours here: the migration core lists it there.
 */
static int vbe_migrate_tell(struct vbe *vb, struct vbe_batch *b,
			    struct virtqueue *vq, struct page *page)
{
	vbe_batch_name_page(vb, b, page);
	if (vbe_batch_send(vb, vq, b) < b->num_pfns)
		return -EIO;
	vbe_batch_wait(vb, vq, b);
	return 0;
}

int vbe_migratepage(struct balloon_dev_info *info, struct page *newpage,
		    struct page *page, enum migrate_mode mode)
{
	struct vbe *vb = container_of(info, struct vbe, balloon.info);
	struct vbe_batch *b = &vb->batch[VBE_B_MIGRATE];
	int err;

	/* Another migration has the batch: try again later, never wait. */
	if (!mutex_trylock(&vb->migrate_lock))
		return -EAGAIN;
	err = vbe_migrate_tell(vb, b, vb->vqs[VBE_VQ_INFLATE], newpage);
	/*
	 * The host has the new page but not yet the old one back: both stay
	 * ballooned for it until the deflate below, and @page stays ours.
	 */
	if (!err)
		err = vbe_migrate_tell(vb, b, vb->vqs[VBE_VQ_DEFLATE], page);
	mutex_unlock(&vb->migrate_lock);
	/*
	 * Only a broken device refuses a buffer (logged). The host may then
	 * count @newpage as ballooned too; it goes back to the allocator
	 * empty, so no data is lost, and @page stays in the balloon.
	 */
	if (err)
		return -EAGAIN;

	bext_balloon_migrate_insert(info, newpage, page, !vb->deflate_on_oom);
	atomic_long_inc(&vb->count.migrated);
	/* Only now, with the host told, may the old page be freed. */
	bext_balloon_migrate_release(info, page);
	return MIGRATEPAGE_SUCCESS;
}
