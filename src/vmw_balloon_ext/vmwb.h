/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vmw_balloon_ext: the VMware balloon, speaking the in-tree vmw_balloon's
 * protocol on the private backdoor port 0x5670, and reporting what it
 * holds to balloon_core. Ballooned pages stay in MemTotal and count as
 * used, so the amount is InflatedFree.
 *
 * Locks, outermost first:
 *  - conf_sem: a reset (and module exit) holds it for write while the
 *    balloon is emptied and the protocol restarted; everything else
 *    holds it for read. Migration, the shrinker and the OOM notifier only
 *    ever try it.
 *  - comm_lock: the batch page and the host call that reads it. Nothing
 *    allocates under it. Migration, the shrinker and the OOM notifier
 *    only try it, so none of them waits behind a host call.
 *  - huge_lock: the list of 2 MiB pages.
 */
#ifndef VMWB_H
#define VMWB_H

#include <linux/atomic.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/notifier.h>
#include <linux/rwsem.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/vmw_vmci_defs.h>
#include <linux/workqueue.h>

#include "balloon_core.h"

#define VMWB_PORT		0x5670
#define VMWB_MAGIC		0x456c6d6f
#define VMWB_GUEST_LINUX	1

/* Capabilities (START's argument, and the host's answer in ECX). */
#define VMWB_CAP_BASIC		BIT(1)
#define VMWB_CAP_BATCHED	BIT(2)
#define VMWB_CAP_BATCHED_2M	BIT(3)
#define VMWB_CAP_DOORBELL	BIT(4)
#define VMWB_CAP_64BIT_TARGET	BIT(5)
#ifdef CONFIG_64BIT
#define VMWB_CAPS	(VMWB_CAP_BASIC | VMWB_CAP_BATCHED | VMWB_CAP_BATCHED_2M | \
			 VMWB_CAP_DOORBELL | VMWB_CAP_64BIT_TARGET)
#else
#define VMWB_CAPS	(VMWB_CAP_BASIC | VMWB_CAP_BATCHED | VMWB_CAP_BATCHED_2M | \
			 VMWB_CAP_DOORBELL)
#endif

enum vmwb_cmd {
	VMWB_CMD_START,
	VMWB_CMD_GET_TARGET,
	VMWB_CMD_LOCK,
	VMWB_CMD_UNLOCK,
	VMWB_CMD_GUEST_ID,
	/* 5: unused */
	VMWB_CMD_BATCHED_LOCK = 6,
	VMWB_CMD_BATCHED_UNLOCK,
	VMWB_CMD_BATCHED_2M_LOCK,
	VMWB_CMD_BATCHED_2M_UNLOCK,
	VMWB_CMD_DOORBELL_SET,
	VMWB_NR_CMDS
};

/* The commands whose successful answer carries the target in RBX. */
#define VMWB_CMDS_WITH_TARGET	(BIT(VMWB_CMD_GET_TARGET) | BIT(VMWB_CMD_LOCK) | \
				 BIT(VMWB_CMD_UNLOCK) | BIT(VMWB_CMD_BATCHED_LOCK) | \
				 BIT(VMWB_CMD_BATCHED_UNLOCK) | \
				 BIT(VMWB_CMD_BATCHED_2M_LOCK) | \
				 BIT(VMWB_CMD_BATCHED_2M_UNLOCK))

enum vmwb_status {
	VMWB_OK,
	VMWB_ERR_CMD_INVALID,
	VMWB_ERR_PPN_INVALID,
	VMWB_ERR_PPN_LOCKED,
	VMWB_ERR_PPN_UNLOCKED,
	VMWB_ERR_PPN_PINNED,
	VMWB_ERR_PPN_NOTNEEDED,
	VMWB_ERR_RESET,
	VMWB_ERR_BUSY,
	VMWB_NR_STATUSES
};

#define VMWB_OK_WITH_CAPS	0x03000000UL

/* A batch entry: the host writes a status into the low bits. */
#define VMWB_ENTRY_STATUS	GENMASK_ULL(4, 0)
#define VMWB_ENTRY_PFN_SHIFT	12
#define VMWB_BATCH_MAX		(PAGE_SIZE / sizeof(u64))

enum vmwb_size {
	VMWB_4K,
	VMWB_2M,
	VMWB_NR_SIZES
};

#define VMWB_2M_ORDER		(PMD_SHIFT - PAGE_SHIFT)

static inline unsigned int vmwb_order(enum vmwb_size size)
{
	return size == VMWB_2M ? VMWB_2M_ORDER : 0;
}

static inline unsigned long vmwb_frames(enum vmwb_size size)
{
	return 1UL << vmwb_order(size);
}

/* Refused 4 KiB pages kept per inflate round, as the in-tree driver keeps. */
#define VMWB_MAX_REFUSED	16

/* General statistics, in vmmemctl's order. */
enum vmwb_stat {
	VMWB_STAT_TIMER,
	VMWB_STAT_DOORBELL,
	VMWB_STAT_RESET,
	VMWB_STAT_SHRINK,
	VMWB_STAT_SHRINK_FREE,
	VMWB_NR_STATS
};

/* Per page size statistics, in vmmemctl's order. */
enum vmwb_page_stat {
	VMWB_PSTAT_ALLOC,
	VMWB_PSTAT_ALLOC_FAIL,
	VMWB_PSTAT_REFUSED_ALLOC,
	VMWB_PSTAT_REFUSED_FREE,
	VMWB_PSTAT_FREE,
	VMWB_NR_PSTATS
};

/* Our own counters, after upstream's in vmmemctl. */
enum vmwb_ext_stat {
	VMWB_XSTAT_MIGRATED,
	VMWB_XSTAT_MIGRATE_DROPPED,	/* old page unlocked, new one refused */
	VMWB_XSTAT_OOM_CALLS,
	VMWB_XSTAT_OOM_FREED,
	VMWB_XSTAT_BAD_TARGET,		/* targets the driver did not take as given */
	VMWB_NR_XSTATS
};

enum vmwb_op {
	VMWB_INFLATE,
	VMWB_DEFLATE
};

/* One round's pages of one size, on their way to or from the host. */
struct vmwb_ctl {
	struct list_head pages;
	unsigned int n_pages;
	struct list_head refused;
	unsigned int n_refused;
	struct list_head prealloc;	/* 4 KiB pages split from refused 2 MiB ones */
	enum vmwb_size size;
	enum vmwb_op op;
};

struct vmwb_stats {
	atomic64_t cmd[VMWB_NR_CMDS];
	atomic64_t cmd_failed[VMWB_NR_CMDS];
	atomic64_t stat[VMWB_NR_STATS];
	atomic64_t page[VMWB_NR_PSTATS][VMWB_NR_SIZES];
	atomic64_t ext[VMWB_NR_XSTATS];
};

struct vmwb {
	struct bext_balloon balloon;	/* the 4 KiB pages: movable */
	struct list_head huge_pages;	/* the 2 MiB pages: never migrated */
	spinlock_t huge_lock;
	atomic64_t size;		/* frames ballooned, both sizes */
	atomic_long_t n_pages[VMWB_NR_SIZES];

	struct rw_semaphore conf_sem;	/* see the top of this file */
	struct mutex comm_lock;		/* see the top of this file */
	u64 *batch;			/* NULL: one page per command */
	unsigned int batch_max;
	unsigned long caps;		/* granted at the last START */
	enum vmwb_size max_size;
	bool reset_required;
	unsigned long limit;		/* totalram_pages() sent with GET_TARGET */
	unsigned long target;		/* frames */
	unsigned long host_target;	/* the host's last answer, as given */

	struct delayed_work dwork;
	bool stopping;

	/* Inflation waits until then after a deflate under pressure. */
	spinlock_t pause_lock;
	unsigned long pause_until;
	unsigned long pause;		/* jiffies, 0: none yet */
	bool target_met;

	struct shrinker *shrinker;
	struct notifier_block oom_nb;
	bool oom_registered;
	struct mutex oom_lock;		/* one OOM deflate at a time */
	unsigned long oom_last, oom_amount;	/* under oom_lock */

	struct vmci_handle doorbell;	/* VMCI_INVALID_HANDLE: none */

	struct balloon_core_source *source;
	spinlock_t report_lock;		/* orders reports to balloon_core */

	struct vmwb_stats stats;
};

/* hypercall.c: the backdoor */
unsigned long vmwb_cmd(struct vmwb *b, enum vmwb_cmd cmd, unsigned long arg1,
		       unsigned long arg2, unsigned long *result);
const char *vmwb_status_name(unsigned long status, char *buf, size_t len);
void vmwb_log_status(struct vmwb *b, enum vmwb_cmd cmd, unsigned long status);
extern const char * const vmwb_cmd_names[VMWB_NR_CMDS];

/* pages.c: the two page lists */
struct page *vmwb_alloc_page(enum vmwb_size size);
void vmwb_free_page(struct page *page, enum vmwb_size size);
void vmwb_free_list(struct list_head *pages, enum vmwb_size size);
void vmwb_enqueue(struct vmwb *b, struct list_head *pages, unsigned int n,
		  enum vmwb_size size);
unsigned int vmwb_dequeue(struct vmwb *b, struct list_head *pages,
			  unsigned int n, enum vmwb_size size);
void vmwb_release(struct vmwb *b, struct list_head *pages, unsigned int n,
		  enum vmwb_size size);

/* lock.c: telling the host */
int vmwb_lock_list(struct vmwb *b, struct vmwb_ctl *ctl, bool wait);
unsigned long vmwb_lock_one(struct vmwb *b, struct page *page, enum vmwb_op op);

/* size.c: toward the target */
long vmwb_change(struct vmwb *b);
void vmwb_inflate(struct vmwb *b);
unsigned long vmwb_deflate(struct vmwb *b, unsigned long frames, bool coordinated,
			   bool wait);
void vmwb_pop(struct vmwb *b);

/* reset.c: (re)starting the protocol */
void vmwb_reset(struct vmwb *b);
void vmwb_get_target(struct vmwb *b);
void vmwb_disable_batching(struct vmwb *b);
void vmwb_stop_protocol(struct vmwb *b);

/* doorbell.c: VMCI wake-ups, where the host grants them */
int vmwb_doorbell_init(struct vmwb *b);
void vmwb_doorbell_cleanup(struct vmwb *b);

/* migrate.c */
int vmwb_migratepage(struct balloon_dev_info *info, struct page *newpage,
		     struct page *page, enum migrate_mode mode);

/* pressure.c: the opt-in shrinker and OOM deflate */
int vmwb_pressure_init(struct vmwb *b);
void vmwb_pressure_exit(struct vmwb *b);
bool vmwb_inflation_paused(struct vmwb *b);
void vmwb_pause_inflation(struct vmwb *b, unsigned long base);
void vmwb_note_target_met(struct vmwb *b);

/* accounting.c: what balloon_core shows */
int vmwb_source_register(struct vmwb *b);
void vmwb_source_unregister(struct vmwb *b);
void vmwb_report(struct vmwb *b, enum balloon_core_reason why);
long vmwb_inflated_kb(struct vmwb *b);

/* debugfs.c: vmmemctl */
void vmwb_debugfs_init(struct vmwb *b);
void vmwb_debugfs_exit(void);

static inline void vmwb_count(atomic64_t *v, long n)
{
	atomic64_add(n, v);
}

#endif /* VMWB_H */
