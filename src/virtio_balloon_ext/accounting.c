// SPDX-License-Identifier: GPL-2.0
/*
 * What balloon_core shows. With DEFLATE_ON_OOM the ballooned pages stay in
 * MemTotal and count as used: InflatedFree. Without it they leave
 * MemTotal: InflatedTotal. The values are sums over every device this
 * driver runs, so each device adds the change since its last report.
 */
#include <linux/spinlock.h>

#include "balloon_core.h"
#include "vbe.h"

static DEFINE_SPINLOCK(sum_lock);
static long sum_total_kb;
static long sum_free_kb;

long vbe_inflated_kb(const struct vbe *vb)
{
	return (long)vbe_num_pages(vb) << (VIRTIO_BALLOON_PFN_SHIFT - 10);
}

void vbe_report_inflated(struct vbe *vb)
{
	long kb = vbe_inflated_kb(vb);
	unsigned long flags;

	spin_lock_irqsave(&sum_lock, flags);
	if (vb->deflate_on_oom) {
		sum_free_kb += kb - vb->reported_kb;
		balloon_set_inflated_free(sum_free_kb);
	} else {
		sum_total_kb += kb - vb->reported_kb;
		balloon_set_inflated_total(sum_total_kb);
	}
	vb->reported_kb = kb;
	spin_unlock_irqrestore(&sum_lock, flags);
}
