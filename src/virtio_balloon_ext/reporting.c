// SPDX-License-Identifier: GPL-2.0
/*
 * Free page reporting through the kernel's page_reporting API: the core
 * hands us ranges of free pages, the host discards them, and the guest
 * faults them back in, zeroed, when it uses them again.
 */
#include <linux/page_reporting.h>
#include <linux/scatterlist.h>
#include <linux/sizes.h>

#include "vbe.h"

static int vbe_report_free(struct page_reporting_dev_info *pr,
			   struct scatterlist *sg, unsigned int nents)
{
	struct vbe *vb = container_of(pr, struct vbe, pr_dev_info);
	struct virtqueue *vq = vb->vqs[VBE_VQ_REPORTING];
	struct scatterlist *s;
	unsigned long bytes = 0;
	unsigned int i;
	int err;

	/* One report at a time, so the queue has room unless the host misbehaves. */
	err = virtqueue_add_inbuf(vq, sg, nents, vb, GFP_NOWAIT | __GFP_NOWARN);
	if (err) {
		dev_warn_ratelimited(&vb->vdev->dev, "cannot queue %u free page ranges to report (error %d)\n",
				     nents, err);
		return err;
	}
	vbe_kick_and_wait(vb, vq, 1);

	for_each_sg(sg, s, nents, i)
		bytes += s->length;
	atomic_long_add(bytes >> PAGE_SHIFT, &vb->count.reported);
	return 0;
}

int vbe_reporting_register(struct vbe *vb)
{
	unsigned int capacity = virtqueue_get_vring_size(vb->vqs[VBE_VQ_REPORTING]);

	if (capacity < PAGE_REPORTING_CAPACITY) {
		dev_err(&vb->vdev->dev, "reporting queue holds %u entries, page reporting needs %u\n",
			capacity, PAGE_REPORTING_CAPACITY);
		return -ENOSPC;
	}
	vb->pr_dev_info.report = vbe_report_free;
	bext_page_reporting_default_order(&vb->pr_dev_info);
	/*
	 * With 64 KiB pages the default, pageblock order, is 512 MiB, which a
	 * guest seldom frees whole: report 2 MiB blocks, as in-tree.
	 */
	if (IS_ENABLED(CONFIG_ARM64) && PAGE_SIZE == SZ_64K)
		bext_page_reporting_set_order(&vb->pr_dev_info, 5);
	return page_reporting_register(&vb->pr_dev_info);
}

void vbe_reporting_unregister(struct vbe *vb)
{
	page_reporting_unregister(&vb->pr_dev_info);
}
