// SPDX-License-Identifier: GPL-2.0
/*
 * Kicking the host about inflate and deflate batches.
 *
 * Most hosts take a notification and do the work elsewhere (KVM's
 * ioeventfd hands it to an I/O thread), so the kick returns at once.
 * Some run the device's handler in the vCPU that wrote the notification:
 * QEMU under TCG, or any host without ioeventfd. Then the kick costs the
 * host's whole work on the batch, and the guest cannot prepare the next
 * batch meanwhile. Once kicks are seen to take that long, and longer than
 * the guest's work between them, later ones are sent from another CPU, so
 * that the host's work on batch n overlaps the guest's on batch n+1. Each
 * of the two queues decides for itself. Every VBE_RECHECK_BATCHES batches
 * one kick still goes inline and is timed, so that a queue whose kicks
 * return at once again (a host that was only busy a while, a guest
 * migrated to a host with ioeventfd) goes back to inline kicks and
 * interrupts.
 *
 * Such a host (QEMU under TCG) also holds its global lock while the handler
 * runs, and a vCPU needs that lock to take an interrupt. An interrupt the
 * handler raises would stop the CPU preparing the next batch until the
 * handler returns, so while batches are in flight the queue's interrupt is
 * off and the driver polls the used ring instead (size.c).
 */
#include <linux/cpumask.h>
#include <linux/ktime.h>
#include <linux/math64.h>
#include <linux/moduleparam.h>
#include <linux/smp.h>
#include <linux/virtio.h>

#include "vbe.h"

/*
 * A notification that takes longer than this, and longer than the guest's
 * own work since the last one, was handled in our vCPU and is worth
 * overlapping; VBE_SLOW_KICKS in a row, not one a busy host happened to
 * delay, say so. With kicks remote, VBE_FAST_KICKS timed inline kicks in a
 * row that take no longer say the host works elsewhere again. A 4 MiB
 * batch's handler takes milliseconds under TCG; a KVM exit, microseconds.
 */
static unsigned int slow_kick_us = 100;
static struct vbe_uint_range slow_kick_us_range = {
	.value = &slow_kick_us, .min = 1, .max = USEC_PER_SEC, .unit = "us",
};
module_param_cb(slow_kick_us, &vbe_range_ops, &slow_kick_us_range, 0644);
MODULE_PARM_DESC(slow_kick_us, "A notification taking longer was handled in the notifying vCPU: send later ones from another CPU (us, 1-1000000, default 100)");

#define VBE_SLOW_KICKS		4
#define VBE_FAST_KICKS		2
/* Batches, not kicks: a kick the host does not need is never sent. */
#define VBE_RECHECK_BATCHES	64

static void vbe_kick_work(struct work_struct *work)
{
	struct vbe_kick *k = container_of(work, struct vbe_kick, work);

	virtqueue_notify(k->vb->vqs[k->vq]);
}

/*
 * The kicks' own workqueue: the OOM notifier and the auto-deflate shrinker
 * deflate through it, so it needs a rescuer (WQ_MEM_RECLAIM) for when no
 * worker can be created without memory. On system_highpri_wq an OOM
 * deflate waited forever for a kick that waited for a new worker.
 */
int vbe_kick_init(struct vbe *vb)
{
	unsigned int i;

	vb->kick_wq = alloc_workqueue("virtio_balloon_ext_kick",
				      WQ_HIGHPRI | WQ_MEM_RECLAIM, 0);
	if (!vb->kick_wq)
		return -ENOMEM;
	for (i = 0; i < ARRAY_SIZE(vb->kick); i++) {
		vb->kick[i].vb = vb;
		vb->kick[i].vq = i;
		INIT_WORK(&vb->kick[i].work, vbe_kick_work);
	}
	return 0;
}

void vbe_kick_exit(struct vbe *vb)
{
	destroy_workqueue(vb->kick_wq);
}

/* Before the queues go away: no kick may be left running or queued. */
void vbe_kick_flush(struct vbe *vb)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(vb->kick); i++)
		flush_work(&vb->kick[i].work);
}

/* Whether kicks of @vq, the inflate or deflate queue, go from another CPU. */
bool vbe_kick_remote_on(struct vbe *vb, struct virtqueue *vq)
{
	return READ_ONCE(vb->kick[vq->index].remote);
}

/* No interrupts from @vq for what is sent from now on: the caller polls. */
void vbe_irq_off(struct vbe *vb, struct virtqueue *vq)
{
	if (vbe_kick_remote_on(vb, vq))
		virtqueue_disable_cb(vq);
}

/* Notify from a CPU other than this one; false if there is none. */
static bool vbe_kick_remote(struct vbe *vb, enum vbe_vq vq)
{
	unsigned int cpu = cpumask_any_but(cpu_online_mask, raw_smp_processor_id());

	if (cpu >= nr_cpu_ids)
		return false;
	/* Already queued: that notification covers these buffers too. */
	if (queue_work_on(cpu, vb->kick_wq, &vb->kick[vq].work))
		atomic_long_inc(&vb->count.remote_kicks);
	return true;
}

static bool vbe_kick_slow(u64 took)
{
	return took > (u64)READ_ONCE(slow_kick_us) * NSEC_PER_USEC;
}

/* An inline kick took @took ns, @since ns after the last one returned. */
static void vbe_kick_judge_inline(struct vbe *vb, struct vbe_kick *k, u64 took,
				  u64 since)
{
	/*
	 * Overlap pays only where the host's part is the larger: inflating
	 * with init_on_alloc, zeroing the pages takes the guest far longer,
	 * and the host working beside it slowed it down (to half the speed,
	 * make bench with default arguments).
	 */
	if (!vbe_kick_slow(took) || took <= since) {
		k->slow = 0;
		return;
	}
	if (++k->slow < VBE_SLOW_KICKS)
		return;
	k->slow = 0;
	WRITE_ONCE(k->remote, true);
	dev_info(&vb->vdev->dev, "the host handles a notification in the notifying CPU (%llu us); kicking %s from another CPU from now on\n",
		 div_u64(took, NSEC_PER_USEC), vb->vqs[k->vq]->name);
}

/* The same, for the occasional inline kick of a queue whose kicks are remote. */
static void vbe_kick_judge_recheck(struct vbe *vb, struct vbe_kick *k, u64 took)
{
	if (vbe_kick_slow(took)) {
		k->fast = 0;
		return;
	}
	if (++k->fast < VBE_FAST_KICKS)
		return;
	k->fast = 0;
	WRITE_ONCE(k->remote, false);
	dev_info(&vb->vdev->dev, "the host handles notifications elsewhere again (%llu us); kicking %s from this CPU from now on\n",
		 div_u64(took, NSEC_PER_USEC), vb->vqs[k->vq]->name);
}

/*
 * Before a batch's buffers go on @vq. If its kick is to be an inline
 * recheck, the remote kicks sent so far must be done first: a host handler
 * that one of them started would take these buffers too, and the timed
 * kick would find nothing left to do and look fast (under TCG, 9 us).
 */
void vbe_kick_before_batch(struct vbe *vb, struct virtqueue *vq)
{
	struct vbe_kick *k = &vb->kick[vq->index];

	if (READ_ONCE(k->remote) && ++k->since_inline >= VBE_RECHECK_BATCHES)
		flush_work(&k->work);
}

/*
 * Tell the host there are new buffers on the inflate or deflate queue @vq,
 * which are queues 0 and 1 of every device, as enum vbe_vq has them.
 * Called under vb->lock, which serializes everything else on @vq.
 */
void vbe_kick(struct vbe *vb, struct virtqueue *vq)
{
	struct vbe_kick *k = &vb->kick[vq->index];
	bool remote = READ_ONCE(k->remote);
	u64 start, took;

	if (!virtqueue_kick_prepare(vq))
		return;
	if (remote && k->since_inline < VBE_RECHECK_BATCHES &&
	    vbe_kick_remote(vb, k->vq))
		return;
	k->since_inline = 0;

	start = ktime_get_ns();
	virtqueue_notify(vq);
	took = ktime_get_ns() - start;
	if (remote)
		vbe_kick_judge_recheck(vb, k, took);
	else
		vbe_kick_judge_inline(vb, k, took, start - k->last_end);
	k->last_end = start + took;
}
