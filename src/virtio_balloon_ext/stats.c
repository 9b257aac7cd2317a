// SPDX-License-Identifier: GPL-2.0
/*
 * The stats queue: the host hands back the buffer it last read, and the
 * driver refills it with fresh memory statistics, tags 0 to 15 of the
 * virtio spec on every kernel, read from the kernel's own counters.
 */
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/scatterlist.h>
#include <linux/vmstat.h>

#include "vbe.h"

static bool legacy_stats;
module_param(legacy_stats, bool, 0644);
MODULE_PARM_DESC(legacy_stats, "Send only the stats tags from before 2024 (0-9), for hosts that reject newer ones");

static void vbe_stat(struct vbe *vb, unsigned int *idx, u16 tag, u64 val)
{
	vb->stats[*idx].tag = cpu_to_virtio16(vb->vdev, tag);
	vb->stats[*idx].val = cpu_to_virtio64(vb->vdev, val);
	(*idx)++;
}

static u64 vbe_bytes(unsigned long pages)
{
	return (u64)pages << PAGE_SHIFT;
}

#ifdef CONFIG_VM_EVENT_COUNTERS
static unsigned int vbe_stats_events(struct vbe *vb, unsigned int idx)
{
	unsigned long events[NR_VM_EVENT_ITEMS];
	struct bext_reclaim reclaim;
	unsigned long stalls = 0;
	int zone;

	all_vm_events(events);
	vbe_stat(vb, &idx, VBE_S_SWAP_IN, vbe_bytes(events[PSWPIN]));
	vbe_stat(vb, &idx, VBE_S_SWAP_OUT, vbe_bytes(events[PSWPOUT]));
	vbe_stat(vb, &idx, VBE_S_MAJFLT, events[PGMAJFAULT]);
	vbe_stat(vb, &idx, VBE_S_MINFLT, events[PGFAULT]);
#ifdef CONFIG_HUGETLB_PAGE
	vbe_stat(vb, &idx, VBE_S_HTLB_PGALLOC, events[HTLB_BUDDY_PGALLOC]);
	vbe_stat(vb, &idx, VBE_S_HTLB_PGFAIL, events[HTLB_BUDDY_PGALLOC_FAIL]);
#endif
	if (READ_ONCE(legacy_stats))
		return idx;

	vbe_stat(vb, &idx, VBE_S_OOM_KILL, events[OOM_KILL]);
	/* ALLOCSTALL_* has one counter per zone type, in zone order. */
	for (zone = 0; zone < MAX_NR_ZONES; zone++)
		stalls += events[ALLOCSTALL_NORMAL - ZONE_NORMAL + zone];
	vbe_stat(vb, &idx, VBE_S_ALLOC_STALL, stalls);
	bext_reclaim_counters(events, &reclaim);
	vbe_stat(vb, &idx, VBE_S_ASYNC_SCAN, vbe_bytes(reclaim.async_scan));
	vbe_stat(vb, &idx, VBE_S_DIRECT_SCAN, vbe_bytes(reclaim.direct_scan));
	vbe_stat(vb, &idx, VBE_S_ASYNC_RECLAIM, vbe_bytes(reclaim.async_reclaim));
	vbe_stat(vb, &idx, VBE_S_DIRECT_RECLAIM, vbe_bytes(reclaim.direct_reclaim));
	return idx;
}
#else
static unsigned int vbe_stats_events(struct vbe *vb, unsigned int idx)
{
	return idx;
}
#endif

unsigned int vbe_stats_fill(struct vbe *vb)
{
	struct sysinfo si;
	unsigned int idx;

	si_meminfo(&si);
	idx = vbe_stats_events(vb, 0);
	vbe_stat(vb, &idx, VBE_S_MEMFREE, vbe_bytes(si.freeram));
	vbe_stat(vb, &idx, VBE_S_MEMTOT, vbe_bytes(si.totalram));
	vbe_stat(vb, &idx, VBE_S_AVAIL, vbe_bytes(si_mem_available()));
	vbe_stat(vb, &idx, VBE_S_CACHES, vbe_bytes(global_node_page_state(NR_FILE_PAGES)));
	return idx;
}

static int vbe_stats_send(struct vbe *vb, unsigned int n, bool kick)
{
	struct virtqueue *vq = vb->vqs[VBE_VQ_STATS];
	struct scatterlist sg;
	int err;

	sg_init_one(&sg, vb->stats, sizeof(vb->stats[0]) * n);
	err = virtqueue_add_outbuf(vq, &sg, 1, vb, GFP_KERNEL);
	if (err) {
		dev_warn_ratelimited(&vb->vdev->dev, "cannot queue memory statistics (error %d)\n",
				     err);
		return err;
	}
	if (kick)
		virtqueue_kick(vq);
	WRITE_ONCE(vb->stats_sent, n);
	return 0;
}

/*
 * The host needs a buffer to hand back before it can ask for stats. It is
 * queued before DRIVER_OK and the host told after it (vbe_stats_kick()):
 * the spec forbids notifying before.
 */
int vbe_stats_start(struct vbe *vb)
{
	return vbe_stats_send(vb, vbe_stats_fill(vb), false);
}

void vbe_stats_kick(struct vbe *vb)
{
	if (vbe_has(vb, VIRTIO_BALLOON_F_STATS_VQ))
		virtqueue_kick(vb->vqs[VBE_VQ_STATS]);
}

void vbe_stats_request(struct virtqueue *vq)
{
	struct vbe *vb = vq->vdev->priv;

	spin_lock(&vb->stop_lock);
	if (!vb->stop_update) {
		vbe_wake_hold(vb, VBE_WAKE_STATS);
		queue_work(system_freezable_wq, &vb->stats_work);
	}
	spin_unlock(&vb->stop_lock);
}

void vbe_stats_work(struct work_struct *work)
{
	struct vbe *vb = container_of(work, struct vbe, stats_work);
	unsigned int len;

	if (READ_ONCE(vb->vqs_gone))
		return;	/* queued before a restore that failed */

	/* Refill the buffer only once the host has given it back. */
	if (virtqueue_get_buf(vb->vqs[VBE_VQ_STATS], &len))
		vbe_stats_send(vb, vbe_stats_fill(vb), true);
	vbe_wake_done(vb, VBE_WAKE_STATS);
}
