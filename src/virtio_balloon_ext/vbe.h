/* SPDX-License-Identifier: GPL-2.0 */
/*
 * virtio_balloon_ext: the virtio memory balloon (device ID 5), reporting
 * how much it holds to balloon_core.
 */
#ifndef VIRTIO_BALLOON_EXT_H
#define VIRTIO_BALLOON_EXT_H

#include <linux/mutex.h>
#include <linux/notifier.h>
#include <linux/page_reporting.h>
#include <linux/spinlock.h>
#include <linux/virtio.h>
#include <linux/virtio_balloon.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

/* The device counts in 4 KiB pages whatever the guest's page size. */
#define VBE_PAGES_PER_PAGE	((unsigned int)(PAGE_SIZE >> VIRTIO_BALLOON_PFN_SHIFT))
/*
 * PFNs per inflate or deflate buffer: 1 MiB of 4 KiB pages, the most some
 * hosts (Firecracker) take in one descriptor. Up to VBE_BATCH_BUFS buffers
 * go to the host per kick, 4 MiB: few round trips, yet short enough turns
 * that a host working in a vCPU seldom holds the guest up (kick.c).
 */
#define VBE_PFNS_MAX		256
#define VBE_BATCH_BUFS		4
#define VBE_BATCH_PFNS		(VBE_PFNS_MAX * VBE_BATCH_BUFS)
/* Batches per hold of the lock: 64 MiB, then migration and OOM get a turn. */
#define VBE_HOLD_BATCHES	16
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
	atomic_long_t auto_deflated;	/* given back by the auto-deflate shrinker */
	atomic_long_t auto_calls;	/* auto-deflate shrinker scans */
	atomic_long_t inflate_pauses;	/* deflates under pressure, each pausing inflation */
	atomic_long_t paused_rounds;	/* size work that found inflation paused */
	atomic_long_t pressure_cycles;	/* inflations after a deflate under pressure */
	atomic_long_t remote_kicks;	/* notifications sent from another CPU */
	atomic_long_t migrated;
	atomic_long_t alloc_failures;	/* allocation rounds that came up short */
	atomic_long_t hinted_blocks;
	atomic_long_t reported;
};

/*
 * Pages on their way to or from the host. Two take turns, so the guest
 * prepares one while the host works through the other.
 */
struct vbe_batch {
	__virtio32 *pfns;		/* VBE_BATCH_PFNS of them */
	unsigned int num_pfns;
	unsigned int bufs;		/* buffers the host has not used yet */
	struct list_head pages;		/* deflating: free once the host is told */
};

/* Kicking the inflate or deflate queue (kick.c). */
struct vbe_kick {
	struct work_struct work;	/* a notification from another CPU */
	struct vbe *vb;
	enum vbe_vq vq;
	bool remote;		/* kicks go from another CPU */
	unsigned int slow;	/* slow inline kicks in a row */
	unsigned int fast;	/* remote: fast inline rechecks in a row */
	unsigned int since_inline;	/* remote: batches since an inline kick */
	u64 last_end;		/* ns: when the last inline kick returned */
};

struct vbe {
	struct virtio_device *vdev;
	struct virtqueue *vqs[VBE_VQ_MAX];

	/* Config changes and stats requests are served from work items. */
	struct work_struct size_work;
	struct work_struct stats_work;
	spinlock_t stop_lock;	/* protects stop_update */
	bool stop_update;	/* set on removal: queue no more work */

	/* Serializes the balloon: num_pages, the batches and the in/deflate vqs. */
	struct mutex lock;
	unsigned int num_pages;	/* 4 KiB pages in the balloon, as told to the host */
	struct vbe_batch batch[2];
	wait_queue_head_t acked;	/* the host used a buffer */
	struct vbe_kick kick[VBE_VQ_DEFLATE + 1];	/* kick.c */
	struct workqueue_struct *kick_wq;

	struct bext_balloon balloon;
	bool deflate_on_oom;	/* ballooned pages stay in MemTotal */
	struct notifier_block oom_nb;

	/* Memory pressure (pressure.c): no re-inflation until resume_at. */
	struct shrinker *auto_shrinker;	/* auto_deflate=1 only */
	struct task_struct *filler;	/* allocating for inflation right now */
	spinlock_t pause_lock;		/* protects pause, resume_at */
	unsigned long pause;		/* jiffies; 0 before any pressure */
	unsigned long resume_at;
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

	/* What was last reported to balloon_core, in kB. */
	long reported_kb;

	struct vbe_counters count;
	struct dentry *debugfs;
};

static inline bool vbe_has(const struct vbe *vb, unsigned int feature)
{
	return virtio_has_feature(vb->vdev, feature);
}

/* size.c: inflating, deflating and telling the host */
int vbe_batches_init(struct vbe *vb);
void vbe_batches_free(struct vbe *vb);
void vbe_batch_add(struct vbe *vb, struct vbe_batch *b, struct page *page);
void vbe_batch_tell(struct vbe *vb, struct virtqueue *vq, struct vbe_batch *b);
s64 vbe_towards_target(struct vbe *vb);
unsigned int vbe_fill(struct vbe *vb, size_t num);
unsigned int vbe_leak(struct vbe *vb, size_t num);
void vbe_update_actual(struct vbe *vb);
void vbe_kick_and_wait(struct vbe *vb, struct virtqueue *vq, unsigned int bufs);
void vbe_size_work(struct work_struct *work);
void vbe_resume_work(struct work_struct *work);
void vbe_queue_size_work(struct vbe *vb, unsigned long delay);
void vbe_ack(struct virtqueue *vq);

/* kick.c: telling the host of new inflate and deflate buffers */
int vbe_kick_init(struct vbe *vb);
void vbe_kick_exit(struct vbe *vb);
void vbe_kick(struct vbe *vb, struct virtqueue *vq);
void vbe_kick_before_batch(struct vbe *vb, struct virtqueue *vq);
void vbe_kick_flush(struct vbe *vb);
void vbe_irq_off(struct vbe *vb, struct virtqueue *vq);
bool vbe_kick_remote_on(struct vbe *vb, struct virtqueue *vq);

/* accounting.c: what balloon_core shows */
void vbe_report_inflated(struct vbe *vb);
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
unsigned long vbe_deflate_for_pressure(struct vbe *vb, unsigned long pages);

/* pressure.c: auto-deflate and the pause on re-inflation */
void vbe_pause_inflation(struct vbe *vb);
unsigned long vbe_inflation_paused(struct vbe *vb);
int vbe_auto_deflate_start(struct vbe *vb);
void vbe_auto_deflate_stop(struct vbe *vb);

/* stats.c */
unsigned int vbe_stats_fill(struct vbe *vb);
void vbe_stats_request(struct virtqueue *vq);
void vbe_stats_work(struct work_struct *work);
int vbe_stats_start(struct vbe *vb);

/* hint.c: free page hinting */
int vbe_hint_init(struct vbe *vb);
void vbe_hint_exit(struct vbe *vb);
void vbe_hint_config_changed(struct vbe *vb);
unsigned long vbe_hint_return(struct vbe *vb, unsigned long blocks);

/* reporting.c: free page reporting */
int vbe_reporting_register(struct vbe *vb);
void vbe_reporting_unregister(struct vbe *vb);

/* debugfs.c */
void vbe_debugfs_add(struct vbe *vb);
void vbe_debugfs_remove(struct vbe *vb);

#endif /* VIRTIO_BALLOON_EXT_H */
