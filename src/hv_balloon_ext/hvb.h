/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hv_balloon_ext: the Hyper-V Dynamic Memory (DM) guest, speaking the
 * protocol of the in-tree hv_balloon over its VMBus channel, and
 * reporting what it holds to balloon_core. Ballooned pages are taken out
 * of the managed page count on every kernel, so the amount is
 * InflatedTotal.
 *
 * Contexts:
 *  - the channel callback (softirq) reads host messages, checks them and
 *    hands each request to a work item; it never sleeps and never
 *    allocates more than a GFP_ATOMIC copy of an unballoon request;
 *  - one ordered workqueue runs balloon up, balloon down and hot-add, one
 *    at a time, so the page list and the hot-add regions have one writer;
 *  - a delayed work sends the status report every second.
 *
 * Locks:
 *  - req_lock (spinlock, taken in softirq and with bh off elsewhere):
 *    the requests waiting for the workqueue;
 *  - ha_lock (spinlock): the hot-add regions, also read by the online
 *    callback and the memory notifier. Nothing allocates, sleeps or talks
 *    to the host under either lock.
 * No lock is held across an allocation that may reclaim or across a
 * send: nothing in reclaim, the OOM path or migration waits for us.
 *
 * Only channel.c calls into vmbus, so a test build can redirect those
 * calls to a simulated host.
 */
#ifndef HVB_H
#define HVB_H

#include <linux/completion.h>
#include <linux/hyperv.h>
#include <linux/list.h>
#include <linux/mm_types.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/workqueue.h>

#include "balloon_core.h"

/* Protocol versions: major << 16 | minor. */
#define HVB_VERSION(major, minor)	((u32)(major) << 16 | (minor))
#define HVB_VERSION_MAJOR(v)		((v) >> 16)
#define HVB_VERSION_MINOR(v)		((v) & 0xff)
#define HVB_VERSION_WIN7		HVB_VERSION(0, 3)
#define HVB_VERSION_WIN8		HVB_VERSION(1, 0)
#define HVB_VERSION_WIN10		HVB_VERSION(2, 0)

enum hvb_msg_type {
	HVB_MSG_ERROR,
	HVB_MSG_VERSION_REQUEST,
	HVB_MSG_VERSION_RESPONSE,
	HVB_MSG_CAPS_REPORT,
	HVB_MSG_CAPS_RESPONSE,
	HVB_MSG_STATUS_REPORT,
	HVB_MSG_BALLOON_REQUEST,
	HVB_MSG_BALLOON_RESPONSE,
	HVB_MSG_UNBALLOON_REQUEST,
	HVB_MSG_UNBALLOON_RESPONSE,
	HVB_MSG_HOT_ADD_REQUEST,
	HVB_MSG_HOT_ADD_RESPONSE,
	HVB_MSG_INFO,
	HVB_NR_MSG_TYPES
};

/* Wire layouts: packed, little-endian (x86 only). */
struct hvb_hdr {
	u16 type;
	u16 size;	/* the whole message, header included */
	u32 trans_id;
} __packed;

/* start_page in bits 0-39, page_cnt in bits 40-63. */
struct hvb_range {
	u64 v;
} __packed;

#define HVB_RANGE_START(r)	((r).v & GENMASK_ULL(39, 0))
#define HVB_RANGE_COUNT(r)	((r).v >> 40)
#define HVB_RANGE_MAX_COUNT	(BIT_ULL(24) - 1)

static inline struct hvb_range hvb_range_make(u64 start, u64 count)
{
	struct hvb_range r = { .v = (start & GENMASK_ULL(39, 0)) | count << 40 };

	return r;
}

struct hvb_version_req {
	struct hvb_hdr hdr;
	u32 version;
	u32 flags;	/* bit 0: is_last_attempt */
} __packed;

struct hvb_version_resp {
	struct hvb_hdr hdr;
	u64 flags;	/* bit 0: is_accepted */
} __packed;

#define HVB_CAP_BALLOON		BIT_ULL(0)
#define HVB_CAP_HOT_ADD		BIT_ULL(1)
#define HVB_CAP_ALIGN_SHIFT	2	/* 4 bits: log2 of the alignment in MiB */

struct hvb_caps {
	struct hvb_hdr hdr;
	u64 caps;
	u64 min_page_cnt;
	u64 max_page_number;
} __packed;

struct hvb_caps_resp {
	struct hvb_hdr hdr;
	u64 flags;	/* bit 0: is_accepted */
} __packed;

struct hvb_status {
	struct hvb_hdr hdr;
	u64 num_avail;
	u64 num_committed;
	u64 page_file_size;
	u64 zero_free;
	u32 page_file_writes;
	u32 io_diff;
} __packed;

struct hvb_balloon_req {
	struct hvb_hdr hdr;
	u32 num_pages;
	u32 reservedz;
} __packed;

struct hvb_balloon_resp {
	struct hvb_hdr hdr;
	u32 reservedz;
	u32 flags;	/* bit 0: more_pages, bits 1-31: range_count */
	struct hvb_range ranges[];
} __packed;

struct hvb_unballoon_req {
	struct hvb_hdr hdr;
	u32 flags;	/* bit 0: more_pages */
	u32 range_count;
	struct hvb_range ranges[];
} __packed;

struct hvb_unballoon_resp {
	struct hvb_hdr hdr;
} __packed;

struct hvb_hot_add_req {
	struct hvb_hdr hdr;
	struct hvb_range range;		/* the pages to back */
	struct hvb_range region;	/* only when hdr.size says so */
} __packed;

#define HVB_HOT_ADD_REQ_SIZE	offsetof(struct hvb_hot_add_req, region)

struct hvb_hot_add_resp {
	struct hvb_hdr hdr;
	u32 page_count;
	u32 result;	/* 1: done (or permanent failure), 0: try again */
} __packed;

struct hvb_info {
	struct hvb_hdr hdr;
	u32 reserved;
	u32 info_size;	/* the bytes after this field */
	u32 info_type;
	u32 data_size;
	u8 data[];
} __packed;

#define HVB_INFO_MAX_PAGE_CNT	0

/* The largest message either side sends. */
#define HVB_MSG_MAX		HV_HYP_PAGE_SIZE
/* Ranges in one balloon response: as many as fit the largest message. */
#define HVB_RESP_MAX_RANGES	\
	((HVB_MSG_MAX - sizeof(struct hvb_balloon_resp)) / sizeof(struct hvb_range))
/*
 * The receive buffer: the receive ring's whole data area, so that no
 * packet can be too large to read (vmbus would leave it in the ring),
 * and one larger than HVB_MSG_MAX is read and dropped as oversized.
 */
#define HVB_RECV_BUF		(4 * HV_HYP_PAGE_SIZE)
/* Bytes per ring direction, as in-tree: 16 KiB of data and the header. */
#define HVB_RING_SIZE		(20 * 1024)

#define HVB_2M_PAGES		512
#define HVB_2M_ORDER		9

/* The states upstream shows in debugfs, with its numbers. */
enum hvb_state {
	HVB_INITIALIZING,
	HVB_INITIALIZED,
	HVB_BALLOON_UP,
	HVB_BALLOON_DOWN,
	HVB_HOT_ADD,
	HVB_INIT_ERROR,
};

/* Unballoon requests waiting for the workqueue, at most this many. */
#define HVB_MAX_PENDING_DOWN	64

struct hvb_pending_msg {
	struct list_head list;
	u32 len;
	u8 data[];
};

struct hvb {
	struct hv_device *hdev;
	u8 *recv_buf;		/* the channel callback's */
	u8 *send_buf;		/* the workqueue's balloon responses */

	enum hvb_state state;
	bool open;		/* the channel is open */
	bool connected;		/* negotiation done, channel open */
	bool hibernation;	/* S4 allowed: requests are ignored */
	bool do_hot_add;
	u32 version;
	u64 max_dynamic_page_count;

	/* Negotiation: the response type expected, and its answer. */
	u16 expect;
	bool accepted;
	struct completion host_event;

	/* Requests, under req_lock. */
	spinlock_t req_lock;
	u32 up_pages;
	bool up_pending;
	struct list_head down_msgs;
	unsigned int nr_down_msgs;
	bool ha_pending;
	struct hvb_hot_add_req ha_req;
	u16 ha_req_size;

	struct workqueue_struct *wq;
	struct work_struct up_work;
	struct work_struct down_work;
	struct work_struct ha_work;
	struct delayed_work status_work;
	unsigned long last_post;	/* jiffies of the last status report */

	/* Ballooned pages and whole 2 MiB ones by page->lru (balloon.c). */
	struct list_head pages;
	unsigned long nr_ballooned;	/* written by the workqueue only */

	struct balloon_core_source *source;
	struct dentry *debugfs;
};

extern struct hvb hvb_dev;
extern uint hvb_pressure_report_delay;
extern bool hvb_hot_add_param;

/* channel.c: the only file that calls vmbus. */
int hvb_driver_register(struct hv_driver *drv);
void hvb_driver_unregister(struct hv_driver *drv);
int hvb_channel_open(struct hvb *b);
void hvb_channel_close(struct hvb *b);
int hvb_send(struct hvb *b, void *msg);
int hvb_recv(struct hvb *b, u32 *len);

/* balloon.c: a send that retries a full ring */
int hvb_send_retry(struct hvb *b, struct hvb_hdr *hdr);

/* proto.c */
void hvb_hdr_init(struct hvb_hdr *hdr, u16 type, u16 size);
void hvb_on_channel(void *context);
void hvb_drop_pending(struct hvb *b);
void hvb_set_connected(struct hvb *b, bool on);

/* negotiate.c */
int hvb_connect(struct hvb *b);

/* balloon.c */
void hvb_balloon_up_work(struct work_struct *work);
void hvb_balloon_down_work(struct work_struct *work);
void hvb_give_back_all(struct hvb *b, enum balloon_core_reason why);

/* hotadd.c */
extern bool hvb_ha_installed;
unsigned long hvb_chunk_pages(void);
int hvb_hotadd_init(void);
bool hvb_hotadd_exit(bool force);
bool hvb_hotadd_can_add(void);
void hvb_hot_add_work(struct work_struct *work);
void hvb_hotadd_counts(unsigned long *added, unsigned long *onlined);

/* status.c */
unsigned long hvb_floor(void);
unsigned long hvb_committed(struct hvb *b);
void hvb_post_status(struct hvb *b);
void hvb_status_work(struct work_struct *work);

/* reporting.c */
void hvb_reporting_enable(void);
void hvb_reporting_disable(void);
void hvb_reporting_exit(void);

/* accounting.c */
int hvb_source_register(struct hvb *b);
void hvb_source_unregister(struct hvb *b);
long hvb_inflated_kb(struct hvb *b);
void hvb_report(struct hvb *b, enum balloon_core_reason why);
void hvb_set_target(struct hvb *b, unsigned long pages);

/* debugfs.c */
void hvb_debugfs_init(struct hvb *b);
void hvb_debugfs_exit(struct hvb *b);

#endif /* HVB_H */
