/* SPDX-License-Identifier: GPL-2.0 */
/*
 * virtio_balloon_ext: the virtio memory balloon (device ID 5), reporting
 * how much it holds to balloon_core.
 */
#ifndef VIRTIO_BALLOON_EXT_H
#define VIRTIO_BALLOON_EXT_H

#include <linux/fault-inject.h>
#include <linux/mutex.h>
#include <linux/notifier.h>
#include <linux/page_reporting.h>
#include <linux/spinlock.h>
#include <linux/virtio.h>
#include <linux/virtio_balloon.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "balloon_core.h"

/* The device counts in 4 KiB pages whatever the guest's page size. */
#define VBE_PAGES_PER_PAGE	((unsigned int)(PAGE_SIZE >> VIRTIO_BALLOON_PFN_SHIFT))
/*
 * PFNs per inflate or deflate buffer: 1 MiB of 4 KiB pages, the most some
 * hosts (Firecracker) take in one descriptor. Up to VBE_BATCH_BUFS buffers
 * go to the host per notification: few round trips for 4 MiB.
 */
#define VBE_PFNS_MAX		256
#define VBE_BATCH_BUFS		4
#define VBE_BATCH_PFNS		(VBE_PFNS_MAX * VBE_BATCH_BUFS)
/* Batches per size work round: 64 MiB, then the work item requeues itself. */
#define VBE_ROUND_BATCHES	16
/* The auto-deflate shrinker's batch: 16 MiB, as its calls come seldom. */
#define VBE_AUTO_PFNS		(VBE_PFNS_MAX * 16)
/* Free page hints go to the host in blocks of this order. */
#define VBE_HINT_ORDER		9
#define VBE_HINT_PAGES		BIT(VBE_HINT_ORDER)

/* Stats tags, as numbered by the virtio spec; 10-15 came in 2024. */
enum vbe_stat_tag {
	VBE_S_SWAP_IN,
	VBE_S_SWAP_OUT,
	VBE_S_MAJFLT,
	VBE_S_MINFLT,
	VBE_S_MEMFREE,
	VBE_S_MEMTOT,
	VBE_S_AVAIL,
	VBE_S_CACHES,
	VBE_S_HTLB_PGALLOC,
	VBE_S_HTLB_PGFAIL,
	VBE_S_LEGACY_NR,	/* the tags from before 2024 end here */
	VBE_S_OOM_KILL = VBE_S_LEGACY_NR,
	VBE_S_ALLOC_STALL,
	VBE_S_ASYNC_SCAN,
	VBE_S_DIRECT_SCAN,
	VBE_S_ASYNC_RECLAIM,
	VBE_S_DIRECT_RECLAIM,
	VBE_S_NR,
};

enum vbe_vq {
	VBE_VQ_INFLATE,
	VBE_VQ_DEFLATE,
	VBE_VQ_STATS,
	VBE_VQ_FREE_PAGE,
	VBE_VQ_REPORTING,
	VBE_VQ_MAX,
};

/* What happened, for debugfs; in guest pages unless named otherwise. */
struct vbe_counters {
	atomic_long_t inflated;
	atomic_long_t deflated;
	atomic_long_t oom_deflated;
	atomic_long_t oom_calls;	/* OOM notifier calls */
	atomic_long_t oom_largest;	/* the most one OOM call gave back */
	atomic_long_t auto_deflated;	/* given back by the auto-deflate shrinker */
	atomic_long_t auto_calls;	/* auto-deflate shrinker scans */
	atomic_long_t inflate_pauses;	/* deflates under pressure, each pausing inflation */
	atomic_long_t paused_rounds;	/* size work that found inflation paused */
	atomic_long_t pressure_cycles;	/* inflations after a deflate under pressure */
	atomic_long_t queue_errors;	/* buffers the queue refused, rolled back */
	atomic_long_t migrated;
	atomic_long_t alloc_failures;	/* allocation rounds that came up short */
	atomic_long_t hinted_blocks;
	atomic_long_t reported;
};

/*
 * Pages on their way to or from the host, and the PFNs that name them.
 * Each caller that talks to the host over the inflate or deflate queue has
 * a batch of its own, so none waits for another's round trip: the size
 * work two (it prepares one while the host works through the other), the
 * OOM notifier, the auto-deflate shrinker and migration one each.
 */
struct vbe_batch {
	__virtio32 *pfns;
	unsigned int max_pfns;
	unsigned int num_pfns;
	unsigned int sent;		/* PFNs on the queue so far */
	unsigned int bufs;		/* buffers the host has not used; ring_lock */
	struct list_head pages;
};

enum vbe_batch_user {
	VBE_B_SIZE,			/* and VBE_B_SIZE + 1 */
	VBE_B_OOM = VBE_B_SIZE + 2,
	VBE_B_AUTO,
	VBE_B_MIGRATE,
	VBE_B_NR,
};

struct vbe {
	struct virtio_device *vdev;
	struct virtqueue *vqs[VBE_VQ_MAX];

	/* Config changes and stats requests are served from work items. */
	struct work_struct size_work;
	struct work_struct stats_work;
	spinlock_t stop_lock;	/* protects stop_update */
	bool stop_update;	/* set on removal: queue no more work */
	bool vqs_gone;		/* a restore failed: no virtqueues */

	/*
	 * The inflate and deflate queues. No lock is held across a host
	 * round trip or an allocation: ring_lock covers adding and reaping
	 * buffers only, and a caller then waits on acked for its own batch.
	 */
	spinlock_t ring_lock;
	unsigned long reaped;		/* buffers used by the host; ring_lock */
	wait_queue_head_t acked;	/* the host used a buffer */
	struct vbe_batch batch[VBE_B_NR];
	struct mutex oom_lock;		/* the OOM notifier's batch */
	struct mutex auto_lock;		/* the auto-deflate shrinker's batch */
	struct mutex migrate_lock;	/* migration's batch */
	/*
	 * 4 KiB pages in the balloon, as the host knows them: inflated pages
	 * count once the host has used their request, deflated ones until
	 * they are freed.
	 */
	atomic_t num_pages;

	struct bext_balloon balloon;
	bool deflate_on_oom;	/* ballooned pages stay in MemTotal */
	struct notifier_block oom_nb;
	unsigned long oom_amount;	/* 4 KiB pages; under oom_lock */
	unsigned long oom_last;		/* jiffies of the last OOM call */

	/* wake.c: awake while a host request waits for its work item */
	struct wakeup_source *ws;
	spinlock_t wake_lock;		/* protects wake_reasons */
	unsigned int wake_reasons;	/* VBE_WAKE_* */

	/* Memory pressure (pressure.c): no re-inflation until resume_at. */
	struct shrinker *auto_shrinker;	/* auto_deflate=1 only */
	struct task_struct *filler;	/* allocating for inflation right now */
	spinlock_t pause_lock;		/* protects pause, resume_at, target_met */
	unsigned long pause;		/* jiffies; 0 before any pressure */
	unsigned long resume_at;
	bool target_met;		/* since the last pause */
	bool pressure_deflated;		/* since the last inflation */
	struct delayed_work resume_work;

	struct virtio_balloon_stat stats[VBE_S_NR];
	unsigned int stats_sent;	/* tags in the last buffer sent */

	/* Free page hinting, on its own queue: a hint run can take long. */
	struct workqueue_struct *hint_wq;
	struct work_struct hint_work;
	unsigned long config_read_bitmap;
	u32 cmd_id_received_cache;
	__virtio32 cmd_id_active;
	__virtio32 cmd_id_stop;
	spinlock_t hint_lock;	/* protects hint_pages, num_hint_blocks */
	struct list_head hint_pages;
	unsigned long num_hint_blocks;
	struct shrinker *shrinker;

	struct page_reporting_dev_info pr_dev_info;
	bool reporting;		/* registered with page_reporting */

	/* This device's amounts in balloon_core; report_lock orders the reports. */
	struct balloon_core_source *source;
	spinlock_t report_lock;	/* reads the page count and reports, as one */

	struct vbe_counters count;
	struct dentry *debugfs;
#ifdef CONFIG_FAULT_INJECTION_DEBUG_FS
	struct fault_attr fail_alloc;	/* fault.c */
	struct dentry *fail_dir;
#endif
};

static inline bool vbe_has(const struct vbe *vb, unsigned int feature)
{
	return virtio_has_feature(vb->vdev, feature);
}

static inline unsigned int vbe_num_pages(const struct vbe *vb)
{
	return atomic_read(&vb->num_pages);
}

/* batch.c: PFN batches on the inflate and deflate queues */
int vbe_batches_init(struct vbe *vb);
void vbe_batches_free(struct vbe *vb);
unsigned int vbe_batch_fill_pfns(struct vbe *vb, struct vbe_batch *b);
void vbe_batch_name_page(struct vbe *vb, struct vbe_batch *b, struct page *page);
int vbe_batch_queue(struct vbe *vb, struct virtqueue *vq, struct vbe_batch *b);
unsigned int vbe_batch_send(struct vbe *vb, struct virtqueue *vq, struct vbe_batch *b);
bool vbe_batch_done(struct vbe *vb, struct virtqueue *vq, struct vbe_batch *b);
void vbe_batch_wait(struct vbe *vb, struct virtqueue *vq, struct vbe_batch *b);
void vbe_batch_unsent(struct vbe_batch *b, struct list_head *unsent);
void vbe_ack(struct virtqueue *vq);
void vbe_kick_and_wait(struct vbe *vb, struct virtqueue *vq, unsigned int bufs);

/* size.c: inflating and deflating toward the host's target */
s64 vbe_towards_target(struct vbe *vb);
unsigned int vbe_fill(struct vbe *vb, size_t num);
unsigned int vbe_leak(struct vbe *vb, struct vbe_batch *b, size_t num,
		      enum balloon_core_reason why);
unsigned int vbe_leak_nowait(struct vbe *vb, struct vbe_batch *b, size_t num,
			     enum balloon_core_reason why);
void vbe_update_actual(struct vbe *vb);
void vbe_size_work(struct work_struct *work);
void vbe_resume_work(struct work_struct *work);
void vbe_queue_size_work(struct vbe *vb, unsigned long delay);

/* accounting.c: what balloon_core shows */
int vbe_source_register(struct vbe *vb);
void vbe_source_unregister(struct vbe *vb);
void vbe_report_inflated(struct vbe *vb, enum balloon_core_reason why);
void vbe_report_target(struct vbe *vb, u32 target_pages);
long vbe_inflated_kb(const struct vbe *vb);

/* migrate.c */
int vbe_migratepage(struct balloon_dev_info *info, struct page *newpage,
		    struct page *page, enum migrate_mode mode);

/*
 * params.c: a number parameter with a range, for module_param_cb(). Not
 * const: kernel_param.arg is a plain pointer up to 5.10.
 */
struct vbe_uint_range {
	unsigned int *value;
	unsigned int min, max;
	const char *unit;	/* for the log line refusing a bad value */
};

extern const struct kernel_param_ops vbe_range_ops;

/* oom.c */
int vbe_oom_register(struct vbe *vb);
void vbe_oom_unregister(struct vbe *vb);

/* pressure.c: auto-deflate and the pause on re-inflation */
void vbe_pause_inflation(struct vbe *vb);
unsigned long vbe_inflation_paused(struct vbe *vb);
void vbe_target_met(struct vbe *vb);
int vbe_auto_deflate_start(struct vbe *vb);
void vbe_auto_deflate_stop(struct vbe *vb);

/* stats.c */
unsigned int vbe_stats_fill(struct vbe *vb);
void vbe_stats_request(struct virtqueue *vq);
void vbe_stats_work(struct work_struct *work);
int vbe_stats_start(struct vbe *vb);
void vbe_stats_kick(struct vbe *vb);

/* hint.c: free page hinting */
int vbe_hint_init(struct vbe *vb);
void vbe_hint_exit(struct vbe *vb);
void vbe_hint_config_changed(struct vbe *vb);
unsigned long vbe_hint_return(struct vbe *vb, unsigned long blocks);

/* reporting.c: free page reporting */
int vbe_reporting_register(struct vbe *vb);
void vbe_reporting_unregister(struct vbe *vb);

/* wake.c */
#define VBE_WAKE_SIZE	BIT(0)
#define VBE_WAKE_STATS	BIT(1)
int vbe_wake_init(struct vbe *vb);
void vbe_wake_exit(struct vbe *vb);
void vbe_wake_hold(struct vbe *vb, unsigned int why);
void vbe_wake_done(struct vbe *vb, unsigned int why);

/* debugfs.c */
void vbe_debugfs_add(struct vbe *vb);
void vbe_debugfs_remove(struct vbe *vb);

/* fault.c: injected failures of the work items' page allocations */
#ifdef CONFIG_FAULT_INJECTION_DEBUG_FS
void vbe_fault_add(struct vbe *vb, const char *debugfs_name);
void vbe_fault_remove(struct vbe *vb);
bool vbe_fail_alloc(struct vbe *vb, unsigned int order);
#else
static inline void vbe_fault_add(struct vbe *vb, const char *debugfs_name) {}
static inline void vbe_fault_remove(struct vbe *vb) {}
static inline bool vbe_fail_alloc(struct vbe *vb, unsigned int order)
{
	return false;
}
#endif

#endif /* VIRTIO_BALLOON_EXT_H */
