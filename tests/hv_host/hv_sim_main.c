// SPDX-License-Identifier: GPL-2.0
/*
 * hv_sim_vmbus: a simulated VMBus with one Dynamic Memory device, and the
 * Dynamic Memory host behind it (test only; see README).
 *
 * The module exports the vmbus functions hv_balloon.ko imports (see
 * vmbus_drv_exports.c and channel_exports.c), makes one hv_device of the DM
 * class and probes the driver that registers for it. Host messages wait in
 * a queue; the channel's callback_event tasklet calls the driver's channel
 * callback once per queued message, as the real vmbus does from softirq
 * context. What the guest sends is handled at once, without sleeping, under
 * one spinlock, and the host's answers are queued.
 *
 * /sys/kernel/debug/hv_sim/request takes commands, /sys/kernel/debug/hv_sim/state
 * shows the host's view and /sys/kernel/debug/hv_sim/ranges the page
 * ranges the host holds as ballooned.
 */
#include <linux/debugfs.h>
#include <linux/hyperv.h>
#include <linux/interrupt.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/rbtree.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/version.h>

#include "hv_sim.h"

/* Kbuild's probe: bus_type.match takes a const driver (6.11 and later). */
#ifndef HV_SIM_MATCH_CONST
#define HV_SIM_MATCH_CONST
#endif

/* The Dynamic Memory protocol: names, layouts and numbers as the DM spec has them. */
#define DM_VERSION(major, minor)	((major) << 16 | (minor))
#define DM_WIN7		DM_VERSION(0, 3)
#define DM_WIN8		DM_VERSION(1, 0)
#define DM_WIN10	DM_VERSION(2, 0)

enum dm_type {
	DM_ERROR = 0,
	DM_VERSION_REQUEST = 1,
	DM_VERSION_RESPONSE = 2,
	DM_CAPABILITIES_REPORT = 3,
	DM_CAPABILITIES_RESPONSE = 4,
	DM_STATUS_REPORT = 5,
	DM_BALLOON_REQUEST = 6,
	DM_BALLOON_RESPONSE = 7,
	DM_UNBALLOON_REQUEST = 8,
	DM_UNBALLOON_RESPONSE = 9,
	DM_MEM_HOT_ADD_REQUEST = 10,
	DM_MEM_HOT_ADD_RESPONSE = 11,
	DM_INFO_MESSAGE = 12,
	DM_MEM_HOT_REMOVE_REQUEST = 13,
	DM_MEM_HOT_REMOVE_RESPONSE = 14,
	DM_NR_TYPES
};

static const char * const dm_type_names[DM_NR_TYPES] = {
	"error", "version_request", "version_response", "caps_report",
	"caps_response", "status_report", "balloon_request",
	"balloon_response", "unballoon_request", "unballoon_response",
	"hot_add_request", "hot_add_response", "info_message",
	"hot_remove_request", "hot_remove_response",
};

struct dm_header {
	u16 type;
	u16 size;
	u32 trans_id;
} __packed;

struct dm_version_request {
	struct dm_header hdr;
	u32 version;
	u32 is_last_attempt;	/* bit 0 */
} __packed;

struct dm_version_response {
	struct dm_header hdr;
	u64 is_accepted;	/* bit 0 */
} __packed;

struct dm_capabilities {
	struct dm_header hdr;
	u64 caps;
	u64 min_page_cnt;
	u64 max_page_number;
} __packed;

struct dm_capabilities_resp {
	struct dm_header hdr;
	u64 is_accepted;	/* bit 0 */
} __packed;

struct dm_status {
	struct dm_header hdr;
	u64 num_avail;
	u64 num_committed;
	u64 page_file_size;
	u64 zero_free;
	u32 page_file_writes;
	u32 io_diff;
} __packed;

struct dm_balloon {
	struct dm_header hdr;
	u32 num_pages;
	u32 reservedz;
} __packed;

/* start_page in bits 0-39, page_cnt in bits 40-63 */
#define DM_RANGE_PFN_BITS	40
#define DM_RANGE_MAX_COUNT	((1U << 24) - 1)

struct dm_balloon_response {
	struct dm_header hdr;
	u32 reservedz;
	u32 more_and_count;	/* bit 0 more_pages, bits 1-31 range_count */
	u64 range_array[];
} __packed;

struct dm_unballoon_request {
	struct dm_header hdr;
	u32 more_pages;		/* bit 0 */
	u32 range_count;
	u64 range_array[];
} __packed;

struct dm_hot_add {
	struct dm_header hdr;
	u64 range;
	u64 region;		/* only in the 24-byte form */
} __packed;

struct dm_hot_add_response {
	struct dm_header hdr;
	u32 page_count;
	u32 result;
} __packed;

struct dm_info_msg {
	struct dm_header hdr;
	u32 reserved;
	u32 info_size;
	u32 info_type;		/* 0: max page count */
	u32 data_size;
	u64 max_page_count;
} __packed;

/* What the guest's 4 KiB receive buffer and a real channel's packets allow. */
#define HV_SIM_MSG_MAX		4096
#define HV_SIM_UNBALLOON_MAX	((HV_SIM_MSG_MAX - sizeof(struct dm_unballoon_request)) / 8)
#define HV_SIM_RAW_MAX		(2 * HV_SIM_MSG_MAX)
#define HV_SIM_REFUSED_MAX	8
#define HV_SIM_VERSION_LOG	8

/* DM class 525074DC-8985-46E2-8057-A307DC18A502 */
static const guid_t hv_sim_dm_guid =
	GUID_INIT(0x525074dc, 0x8985, 0x46e2,
		  0x80, 0x57, 0xa3, 0x07, 0xdc, 0x18, 0xa5, 0x02);

/* The device's instance, which names it under /sys/bus/vmbus/devices. */
static const guid_t hv_sim_instance_guid =
	GUID_INIT(0x1eccfd72, 0x4b41, 0x45ef,
		  0xb7, 0x3a, 0x4a, 0x6e, 0x44, 0xc1, 0x29, 0x24);

static uint refuse_versions[HV_SIM_REFUSED_MAX];
static int nr_refuse_versions;
module_param_array(refuse_versions, uint, &nr_refuse_versions, 0444);
MODULE_PARM_DESC(refuse_versions, "DM versions the host refuses (0x20000 is 2.0)");

static bool refuse_caps;
module_param(refuse_caps, bool, 0444);
MODULE_PARM_DESC(refuse_caps, "Refuse the guest's capabilities report");

struct hv_sim_msg {
	struct list_head node;
	u32 len;
	u8 data[];
};

/* Page ranges, kept merged; the host's ballooned pages are one. */
struct hv_sim_set {
	struct rb_root root;
	u64 pages;
	u64 ranges;
};

/* One range of guest pages in a set. */
struct hv_sim_range {
	struct rb_node node;
	u64 start;
	u64 count;
};

struct hv_sim_status {
	u64 count;
	u64 first_ns;
	u64 last_ns;
	u64 min_gap_ns;
	u64 max_gap_ns;
	u64 num_avail;
	u64 num_committed;
};

struct hv_sim {
	spinlock_t lock;		/* everything below */
	struct hv_device hdev;
	struct vmbus_channel *chan;
	struct hv_driver *drv;			/* bound, or being probed */
	char drv_name[32];			/* the driver probed last */
	int probe_result;
	u32 probes;
	bool probed;
	bool probing;
	bool open;
	void (*callback)(void *context);
	void *context;
	u32 send_ring_size;
	u32 recv_ring_size;
	u32 max_pkt_size;		/* as the driver set it before vmbus_open */

	struct list_head queue;		/* struct hv_sim_msg, host to guest */
	u32 queued;
	u32 host_trans_id;

	/* negotiation */
	u32 refused[HV_SIM_REFUSED_MAX];
	u32 nr_refused;
	bool refuse_caps;
	u32 version;			/* accepted version, 0 before */
	u32 version_log[HV_SIM_VERSION_LOG];
	u32 version_log_last[HV_SIM_VERSION_LOG];
	u32 nr_version_log;
	u64 caps;
	u64 caps_min_page_cnt;
	u64 caps_max_page_number;
	bool caps_accepted;

	/* balloon */
	struct hv_sim_set held;
	bool balloon_pending;
	u64 balloon_asked;		/* num_pages of the last request */
	u64 balloon_got;		/* pages the guest gave for it so far */
	u64 balloon_responses;
	u64 balloon_ranges;
	u64 balloon_max_ranges;		/* most ranges in one response */
	u64 balloon_asked_ns;		/* boottime: the request queued */
	u64 balloon_done_ns;		/* boottime: its last response came */

	/* unballoon */
	bool unballoon_pending;
	u64 unballoon_pages;		/* pages given back in all */
	u64 unballoon_asked_ns;
	u64 unballoon_done_ns;

	/* hot-add */
	bool hot_add_pending;
	u64 hot_add_asked;
	u64 hot_added_pages;		/* sum of the responses' page_count */
	u32 hot_add_last_count;
	u32 hot_add_last_result;

	struct hv_sim_status status;
	u64 info_max_page_count;

	/* faults on demand */
	u32 eagain_left;

	/* counters */
	u64 rx[DM_NR_TYPES + 1];	/* by type; the last is out of range */
	u64 tx[DM_NR_TYPES + 1];
	u64 rx_bytes;
	u64 err_short;			/* shorter than its type's layout */
	u64 err_size;			/* hdr.size is not the packet's length */
	u64 err_unexpected;		/* a response nobody asked for */
	u64 err_overlap;		/* a range the host already held */
	u64 err_closed;			/* sent on a closed channel */
	u64 err_packet_type;		/* not VM_PKT_DATA_INBAND */
	u64 enobufs;			/* messages dropped after -ENOBUFS */
	u64 eagain_returned;
	u64 callbacks;

	/* hibernation, as vmbus's freeze and restore call the driver */
	bool suspended;
	u32 suspends;
	u32 resumes;
	int pm_result;			/* of the last suspend or resume */
};

static struct hv_sim sim;
static struct dentry *hv_sim_dir;

static inline u64 dm_range(u64 start, u64 count)
{
	return start | count << DM_RANGE_PFN_BITS;
}

static inline u64 dm_range_start(u64 range)
{
	return range & ((1ULL << DM_RANGE_PFN_BITS) - 1);
}

static inline u64 dm_range_count(u64 range)
{
	return range >> DM_RANGE_PFN_BITS;
}

/* ---- ranges the host holds ---------------------------------------------- */

static struct hv_sim_range *held_entry(struct rb_node *node)
{
	return node ? rb_entry(node, struct hv_sim_range, node) : NULL;
}

/* The range of set with the greatest start below end, or NULL. */
static struct hv_sim_range *held_before(struct hv_sim_set *set, u64 end)
{
	struct rb_node *node = set->root.rb_node;
	struct hv_sim_range *best = NULL;

	while (node) {
		struct hv_sim_range *r = held_entry(node);

		if (r->start < end) {
			best = r;
			node = node->rb_right;
		} else {
			node = node->rb_left;
		}
	}
	return best;
}

static void held_link(struct hv_sim_set *set, struct hv_sim_range *new)
{
	struct rb_node **link = &set->root.rb_node, *parent = NULL;

	while (*link) {
		parent = *link;
		if (new->start < held_entry(parent)->start)
			link = &parent->rb_left;
		else
			link = &parent->rb_right;
	}
	rb_link_node(&new->node, parent, link);
	rb_insert_color(&new->node, &set->root);
	set->ranges++;
}

static void held_unlink(struct hv_sim_set *set, struct hv_sim_range *r)
{
	rb_erase(&r->node, &set->root);
	set->ranges--;
}

/* Take [start, start + count) into set; -EEXIST if any page is held already. */
static int held_add(struct hv_sim_set *set, u64 start, u64 count)
{
	struct hv_sim_range *prev, *next, *r;
	u64 end = start + count;

	if (!count)
		return 0;
	prev = held_before(set, end);
	if (prev && prev->start + prev->count > start)
		return -EEXIST;
	/* prev ends at or before start; merge with it and with the next one if adjacent */
	next = prev ? held_entry(rb_next(&prev->node)) : held_entry(rb_first(&set->root));
	if (prev && prev->start + prev->count == start) {
		prev->count += count;
		if (next && next->start == end) {
			prev->count += next->count;
			held_unlink(set, next);
			kfree(next);
		}
	} else if (next && next->start == end) {
		next->start = start;
		next->count += count;
	} else {
		r = kmalloc(sizeof(*r), GFP_ATOMIC);
		if (!r)
			return -ENOMEM;
		r->start = start;
		r->count = count;
		held_link(set, r);
	}
	set->pages += count;
	return 0;
}

/* Give back up to count held pages from the lowest; fills *start, returns how many. */
static u64 held_take(struct hv_sim_set *set, u64 count, u64 *start)
{
	struct hv_sim_range *r = held_entry(rb_first(&set->root));
	u64 n;

	if (!r)
		return 0;
	n = min(count, r->count);
	*start = r->start;
	r->start += n;
	r->count -= n;
	if (!r->count) {
		held_unlink(set, r);
		kfree(r);
	}
	set->pages -= n;
	return n;
}

/* Forget [start, start + count) wherever the host holds it; returns the pages forgotten. */
static u64 held_remove(struct hv_sim_set *set, u64 start, u64 count)
{
	u64 end = start + count, removed = 0;
	struct hv_sim_range *r;

	while ((r = held_before(set, end)) && r->start + r->count > start) {
		u64 r_end = r->start + r->count;
		u64 lo = max(r->start, start), hi = min(r_end, end);

		removed += hi - lo;
		if (r->start < lo && r_end > hi) {
			struct hv_sim_range *tail = kmalloc(sizeof(*tail), GFP_ATOMIC);

			if (!tail) {	/* keep it held rather than lose count */
				removed -= hi - lo;
				break;
			}
			tail->start = hi;
			tail->count = r_end - hi;
			held_link(set, tail);
			r->count = lo - r->start;
		} else if (r->start < lo) {
			r->count = lo - r->start;
		} else if (r_end > hi) {
			r->count = r_end - hi;
			r->start = hi;
		} else {
			held_unlink(set, r);
			kfree(r);
		}
	}
	set->pages -= removed;
	return removed;
}

static void held_clear(struct hv_sim_set *set)
{
	struct hv_sim_range *r, *tmp;

	rbtree_postorder_for_each_entry_safe(r, tmp, &set->root, node)
		kfree(r);
	set->root = RB_ROOT;
	set->pages = 0;
	set->ranges = 0;
}

static int st_check(bool ok, int line)
{
	if (!ok)
		pr_err("hv_sim_vmbus: selftest failed at line %d\n", line);
	return !ok;
}

/* The set's own checks, on a set of its own: duplicates, overlaps, merging, splitting. */
static int hv_sim_selftest(void)
{
	struct hv_sim_set set = { .root = RB_ROOT };
	u64 start = 0;
	int bad = 0;

	bad += st_check(!held_add(&set, 100, 10) && set.pages == 10 && set.ranges == 1,
			__LINE__);
	bad += st_check(held_add(&set, 100, 1) == -EEXIST, __LINE__);	/* duplicate */
	bad += st_check(held_add(&set, 95, 6) == -EEXIST, __LINE__);	/* overlaps the start */
	bad += st_check(held_add(&set, 109, 5) == -EEXIST, __LINE__);	/* overlaps the end */
	bad += st_check(held_add(&set, 90, 200) == -EEXIST, __LINE__);	/* covers it */
	bad += st_check(held_add(&set, 104, 2) == -EEXIST, __LINE__);	/* inside it */
	bad += st_check(set.pages == 10 && set.ranges == 1, __LINE__);
	bad += st_check(!held_add(&set, 110, 5) && set.ranges == 1, __LINE__);	/* after */
	bad += st_check(!held_add(&set, 95, 5) && set.ranges == 1, __LINE__);	/* before */
	bad += st_check(!held_add(&set, 200, 1) && !held_add(&set, 116, 1) &&
			set.ranges == 3 && set.pages == 22, __LINE__);
	/* Fills the gap at 115: three ranges become one. */
	bad += st_check(!held_add(&set, 115, 1) && set.ranges == 2 && set.pages == 23,
			__LINE__);
	bad += st_check(held_add(&set, 116, 1) == -EEXIST, __LINE__);
	/* Removing from the middle splits. */
	bad += st_check(held_remove(&set, 100, 5) == 5 && set.ranges == 3 && set.pages == 18,
			__LINE__);
	bad += st_check(held_remove(&set, 100, 5) == 0, __LINE__);
	bad += st_check(held_remove(&set, 0, 1000) == 18 && !set.ranges && !set.pages,
			__LINE__);
	bad += st_check(!held_add(&set, 10, 4) && held_take(&set, 3, &start) == 3 &&
			start == 10, __LINE__);
	bad += st_check(held_take(&set, 10, &start) == 1 && start == 13 && !set.ranges,
			__LINE__);
	bad += st_check(held_take(&set, 10, &start) == 0, __LINE__);
	held_clear(&set);
	return bad ? -EIO : 0;
}

/* ---- host to guest ------------------------------------------------------ */

/* Queue len bytes of msg (the header's trans_id is set here unless keep_id). */
static int host_queue(void *msg, u32 len, bool keep_id)
{
	struct dm_header *hdr = msg;
	struct hv_sim_msg *m;

	m = kmalloc(struct_size(m, data, len), GFP_ATOMIC);
	if (!m)
		return -ENOMEM;
	if (!keep_id && len >= sizeof(*hdr))
		hdr->trans_id = ++sim.host_trans_id;
	m->len = len;
	memcpy(m->data, msg, len);
	list_add_tail(&m->node, &sim.queue);
	sim.queued++;
	if (len >= sizeof(*hdr))
		sim.tx[min_t(u16, hdr->type, DM_NR_TYPES)]++;
	else
		sim.tx[DM_NR_TYPES]++;
	return 0;
}

static void host_kick(void)
{
	if (sim.open)
		tasklet_schedule(&sim.chan->callback_event);
}

/* The channel's callback_event: the driver's callback once per message queued. */
static void hv_sim_tasklet(struct tasklet_struct *t)
{
	void (*callback)(void *context);
	unsigned long flags;
	void *context;
	u32 n;

	spin_lock_irqsave(&sim.lock, flags);
	n = sim.queued;
	while (n-- && sim.open) {
		callback = sim.callback;
		context = sim.context;
		sim.callbacks++;
		spin_unlock_irqrestore(&sim.lock, flags);
		callback(context);
		spin_lock_irqsave(&sim.lock, flags);
	}
	spin_unlock_irqrestore(&sim.lock, flags);
}

static void header(struct dm_header *hdr, u16 type, u16 size, u32 trans_id)
{
	hdr->type = type;
	hdr->size = size;
	hdr->trans_id = trans_id;
}

/* ---- guest to host ------------------------------------------------------ */

static bool refused(u32 version)
{
	u32 i;

	for (i = 0; i < sim.nr_refused; i++)
		if (sim.refused[i] == version)
			return true;
	return false;
}

static void guest_version(const struct dm_version_request *req)
{
	struct dm_version_response resp = {};
	bool ok = !refused(req->version);

	if (sim.nr_version_log < HV_SIM_VERSION_LOG) {
		sim.version_log[sim.nr_version_log] = req->version;
		sim.version_log_last[sim.nr_version_log] = req->is_last_attempt & 1;
		sim.nr_version_log++;
	}
	if (ok)
		sim.version = req->version;
	header(&resp.hdr, DM_VERSION_RESPONSE, sizeof(resp), req->hdr.trans_id);
	resp.is_accepted = ok;
	host_queue(&resp, sizeof(resp), true);
}

static void guest_caps(const struct dm_capabilities *caps)
{
	struct dm_capabilities_resp resp = {};

	sim.caps = caps->caps;
	sim.caps_min_page_cnt = caps->min_page_cnt;
	sim.caps_max_page_number = caps->max_page_number;
	sim.caps_accepted = !sim.refuse_caps;
	header(&resp.hdr, DM_CAPABILITIES_RESPONSE, sizeof(resp), caps->hdr.trans_id);
	resp.is_accepted = sim.caps_accepted;
	host_queue(&resp, sizeof(resp), true);
}

static void guest_status(const struct dm_status *st)
{
	struct hv_sim_status *s = &sim.status;
	u64 now = ktime_get_boottime_ns();

	if (s->count) {
		u64 gap = now - s->last_ns;

		if (s->count == 1 || gap < s->min_gap_ns)
			s->min_gap_ns = gap;
		if (gap > s->max_gap_ns)
			s->max_gap_ns = gap;
	} else {
		s->first_ns = now;
	}
	s->last_ns = now;
	s->count++;
	s->num_avail = st->num_avail;
	s->num_committed = st->num_committed;
}

static void guest_balloon_response(const struct dm_balloon_response *resp, u32 len)
{
	u32 count = resp->more_and_count >> 1, i;

	if (!sim.balloon_pending) {
		sim.err_unexpected++;
		return;
	}
	if (len < struct_size(resp, range_array, count)) {
		sim.err_short++;
		count = (len - sizeof(*resp)) / sizeof(u64);
	}
	sim.balloon_responses++;
	sim.balloon_ranges += count;
	sim.balloon_max_ranges = max_t(u64, sim.balloon_max_ranges, count);
	for (i = 0; i < count; i++) {
		u64 start = dm_range_start(resp->range_array[i]);
		u64 n = dm_range_count(resp->range_array[i]);

		if (held_add(&sim.held, start, n))
			sim.err_overlap++;
		else
			sim.balloon_got += n;
	}
	if (!(resp->more_and_count & 1)) {
		sim.balloon_pending = false;
		sim.balloon_done_ns = ktime_get_boottime_ns();
	}
}

static void guest_hot_add_response(const struct dm_hot_add_response *resp)
{
	if (!sim.hot_add_pending) {
		sim.err_unexpected++;
		return;
	}
	sim.hot_add_pending = false;
	sim.hot_add_last_count = resp->page_count;
	sim.hot_add_last_result = resp->result;
	sim.hot_added_pages += resp->page_count;
}

/* The smallest valid size of each message type the guest sends. */
static u32 guest_min_size(u16 type)
{
	switch (type) {
	case DM_VERSION_REQUEST:
		return sizeof(struct dm_version_request);
	case DM_CAPABILITIES_REPORT:
		return sizeof(struct dm_capabilities);
	case DM_STATUS_REPORT:
		return sizeof(struct dm_status);
	case DM_BALLOON_RESPONSE:
		return sizeof(struct dm_balloon_response);
	case DM_MEM_HOT_ADD_RESPONSE:
		return sizeof(struct dm_hot_add_response);
	default:
		return sizeof(struct dm_header);
	}
}

static void guest_message(const void *buf, u32 len)
{
	const struct dm_header *hdr = buf;

	if (len < sizeof(*hdr)) {
		sim.rx[DM_NR_TYPES]++;
		sim.err_short++;
		return;
	}
	sim.rx[min_t(u16, hdr->type, DM_NR_TYPES)]++;
	sim.rx_bytes += len;
	if (hdr->size != len)
		sim.err_size++;
	if (len < guest_min_size(hdr->type)) {
		sim.err_short++;
		return;
	}
	switch (hdr->type) {
	case DM_VERSION_REQUEST:
		guest_version(buf);
		break;
	case DM_CAPABILITIES_REPORT:
		guest_caps(buf);
		break;
	case DM_STATUS_REPORT:
		guest_status(buf);
		break;
	case DM_BALLOON_RESPONSE:
		guest_balloon_response(buf, len);
		break;
	case DM_UNBALLOON_RESPONSE:
		if (!sim.unballoon_pending)
			sim.err_unexpected++;
		else
			sim.unballoon_done_ns = ktime_get_boottime_ns();
		sim.unballoon_pending = false;
		break;
	case DM_MEM_HOT_ADD_RESPONSE:
		guest_hot_add_response(buf);
		break;
	default:
		sim.err_unexpected++;
		break;
	}
}

/* ---- the vmbus functions ------------------------------------------------ */

/*
 * The bus, named "vmbus" as the real one (free here: off Hyper-V the real
 * bus is never registered), with the one DM device. Binding goes through
 * the driver core, so sysfs bind and unbind work as on Hyper-V.
 */
static const struct hv_vmbus_device_id *hv_sim_dm_id(const struct hv_driver *drv)
{
	const struct hv_vmbus_device_id *id;

	for (id = drv->id_table; id && !guid_is_null(&id->guid); id++)
		if (guid_equal(&id->guid, &hv_sim_dm_guid))
			return id;
	return NULL;
}

static int hv_sim_bus_match(struct device *dev, HV_SIM_MATCH_CONST struct device_driver *drv)
{
	return !!hv_sim_dm_id(container_of(drv, struct hv_driver, driver));
}

/* A probe starts the host's negotiation record afresh. */
static int hv_sim_bus_probe(struct device *dev)
{
	struct hv_driver *drv = container_of(dev->driver, struct hv_driver, driver);
	const struct hv_vmbus_device_id *id = hv_sim_dm_id(drv);
	unsigned long flags;
	int ret;

	if (!id)
		return -ENODEV;
	spin_lock_irqsave(&sim.lock, flags);
	sim.drv = drv;
	strscpy(sim.drv_name, drv->name, sizeof(sim.drv_name));
	sim.probing = true;
	sim.probes++;
	sim.nr_version_log = 0;
	sim.version = 0;
	sim.caps = 0;
	sim.caps_accepted = false;
	spin_unlock_irqrestore(&sim.lock, flags);

	ret = drv->probe(&sim.hdev, id);
	spin_lock_irqsave(&sim.lock, flags);
	sim.probing = false;
	sim.probe_result = ret;
	sim.probed = !ret;
	if (ret) {
		sim.drv = NULL;
	} else {
		/*
		 * A new session: the protocol has no guest-side give-back, so
		 * what a driver held when it let go is forgotten here.
		 */
		held_clear(&sim.held);
	}
	spin_unlock_irqrestore(&sim.lock, flags);
	pr_info("hv_sim_vmbus: probe of %s returned %d\n", drv->name, ret);
	return ret;
}

static void hv_sim_remove_driver(void)
{
	struct hv_driver *drv = sim.drv;

	if (drv && drv->remove)
		drv->remove(&sim.hdev);
	sim.probed = false;
	sim.suspended = false;
	sim.drv = NULL;
	pr_info("hv_sim_vmbus: %s removed\n", drv ? drv->name : "-");
}

#ifdef HV_SIM_BUS_REMOVE_VOID
static void hv_sim_bus_remove(struct device *dev)
{
	hv_sim_remove_driver();
}
#else
static int hv_sim_bus_remove(struct device *dev)
{
	hv_sim_remove_driver();
	return 0;
}
#endif

static ssize_t class_id_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "{%pUl}\n", &sim.hdev.dev_type);
}
static DEVICE_ATTR_RO(class_id);

static ssize_t device_id_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "{%pUl}\n", &sim.hdev.dev_instance);
}
static DEVICE_ATTR_RO(device_id);

static struct attribute *hv_sim_dev_attrs[] = {
	&dev_attr_class_id.attr,
	&dev_attr_device_id.attr,
	NULL,
};
ATTRIBUTE_GROUPS(hv_sim_dev);

static struct bus_type hv_sim_bus = {
	.name = "vmbus",
	.match = hv_sim_bus_match,
	.probe = hv_sim_bus_probe,
	.remove = hv_sim_bus_remove,
	.dev_groups = hv_sim_dev_groups,
};

/*
 * Bind the device again, as a sysfs bind would, after a failed probe.
 * Returns the probe's error, -EBUSY if bound, -ENODEV if nothing probed.
 */
static int hv_sim_reprobe(void)
{
	u32 probes = sim.probes;
	int ret;

	if (sim.probed)
		return -EBUSY;
	ret = device_attach(&sim.hdev.device);
	if (ret < 0)
		return ret;
	if (ret)
		return 0;
	return sim.probes == probes ? -ENODEV : sim.probe_result;
}

/*
 * Suspend or resume the bound driver, as vmbus does around hibernation
 * (process context, no lock held: both sleep). A driver without the
 * callback is skipped, as vmbus skips it; a failed suspend leaves the
 * device running.
 */
static int hv_sim_pm(bool resume)
{
	int (*fn)(struct hv_device *hdev);
	int ret;

	if (!sim.drv || !sim.probed)
		return -ENODEV;
	if (sim.suspended != resume)
		return -EINVAL;
	fn = resume ? sim.drv->resume : sim.drv->suspend;
	ret = fn ? fn(&sim.hdev) : 0;
	if (resume)
		sim.resumes++;
	else
		sim.suspends++;
	sim.pm_result = ret;
	if (!ret || resume)
		sim.suspended = !resume;
	pr_info("hv_sim_vmbus: %s of %s returned %d\n", resume ? "resume" : "suspend",
		sim.drv->name, ret);
	return ret;
}

int hv_sim_driver_register(struct hv_driver *drv, struct module *owner, const char *mod_name)
{
	drv->driver.name = drv->name;
	drv->driver.owner = owner;
	drv->driver.mod_name = mod_name;
	drv->driver.bus = &hv_sim_bus;
	return driver_register(&drv->driver);
}

void hv_sim_driver_unregister(struct hv_driver *drv)
{
	driver_unregister(&drv->driver);
}

int hv_sim_open(struct vmbus_channel *chan, u32 send_size, u32 recv_size,
		void (*callback)(void *context), void *context)
{
	unsigned long flags;
	int ret = 0;

	spin_lock_irqsave(&sim.lock, flags);
	if (chan != sim.chan) {
		ret = -EINVAL;
	} else if (sim.open) {
		ret = -EBUSY;
	} else {
		sim.send_ring_size = send_size;
		sim.recv_ring_size = recv_size;
#ifdef HV_SIM_HAS_MAX_PKT_SIZE
		sim.max_pkt_size = chan->max_pkt_size;
#endif
		sim.callback = callback;
		sim.context = context;
		chan->onchannel_callback = callback;
		chan->channel_callback_context = context;
		sim.open = true;
	}
	spin_unlock_irqrestore(&sim.lock, flags);
	return ret;
}

static void queue_clear(void)
{
	struct hv_sim_msg *m, *tmp;

	list_for_each_entry_safe(m, tmp, &sim.queue, node)
		kfree(m);
	INIT_LIST_HEAD(&sim.queue);
	sim.queued = 0;
}

void hv_sim_close(struct vmbus_channel *chan)
{
	unsigned long flags;

	if (chan != sim.chan)
		return;
	spin_lock_irqsave(&sim.lock, flags);
	sim.open = false;
	spin_unlock_irqrestore(&sim.lock, flags);
	/* As vmbus_close: no callback runs after it returns. */
	tasklet_kill(&chan->callback_event);
	spin_lock_irqsave(&sim.lock, flags);
	queue_clear();
	sim.callback = NULL;
	chan->onchannel_callback = NULL;
	spin_unlock_irqrestore(&sim.lock, flags);
}

int hv_sim_send(struct vmbus_channel *chan, void *buf, u32 len, u64 req_id,
		u32 type, u32 flags)
{
	unsigned long irq;
	int ret = 0;

	spin_lock_irqsave(&sim.lock, irq);
	if (chan != sim.chan || !sim.open) {
		sim.err_closed++;
		ret = -EINVAL;
	} else if (sim.eagain_left) {
		sim.eagain_left--;
		sim.eagain_returned++;
		ret = -EAGAIN;
	} else {
		if (type != VM_PKT_DATA_INBAND)
			sim.err_packet_type++;
		guest_message(buf, len);
	}
	spin_unlock_irqrestore(&sim.lock, irq);
	if (!ret)
		host_kick();
	return ret;
}

int hv_sim_recv(struct vmbus_channel *chan, void *buf, u32 buf_len,
		u32 *actual_len, u64 *req_id)
{
	struct hv_sim_msg *m;
	unsigned long flags;
	u32 len;
	int ret = 0;

	*actual_len = 0;
	*req_id = 0;
	spin_lock_irqsave(&sim.lock, flags);
	m = list_first_entry_or_null(&sim.queue, struct hv_sim_msg, node);
	if (chan != sim.chan || !sim.open || !m)
		goto out;
	/* A ring's packets are 8-byte multiples: the payload comes padded. */
	len = round_up(m->len, 8);
	*actual_len = len;
	if (len > buf_len) {
		/*
		 * A real ring keeps the packet for a bigger buffer; the guest
		 * has none, so the simulation drops it and the channel goes on.
		 */
		sim.enobufs++;
		ret = -ENOBUFS;
	} else {
		memcpy(buf, m->data, m->len);
		memset(buf + m->len, 0, len - m->len);
	}
	list_del(&m->node);
	sim.queued--;
	kfree(m);
out:
	spin_unlock_irqrestore(&sim.lock, flags);
	return ret;
}

/* ---- host requests, from debugfs ---------------------------------------- */

static int host_balloon(u64 pages)
{
	struct dm_balloon msg = {};

	if (pages > U32_MAX)
		return -ERANGE;
	header(&msg.hdr, DM_BALLOON_REQUEST, sizeof(msg), 0);
	msg.num_pages = pages;
	sim.balloon_pending = true;
	sim.balloon_asked = pages;
	sim.balloon_got = 0;
	sim.balloon_asked_ns = ktime_get_boottime_ns();
	sim.balloon_done_ns = 0;
	return host_queue(&msg, sizeof(msg), false);
}

/*
 * Give back up to pages held pages, at most per_msg ranges per message and
 * per_range pages per range.
 */
static int host_unballoon(u64 pages, u64 per_msg, u64 per_range)
{
	struct dm_unballoon_request *msg;
	u64 left = min(pages, sim.held.pages);
	int ret = 0;

	if (!per_msg || per_msg > HV_SIM_UNBALLOON_MAX || !per_range ||
	    per_range > DM_RANGE_MAX_COUNT)
		return -EINVAL;
	if (!left)
		return -ENOENT;
	msg = kzalloc(HV_SIM_MSG_MAX, GFP_ATOMIC);
	if (!msg)
		return -ENOMEM;
	sim.unballoon_pending = true;
	sim.unballoon_asked_ns = ktime_get_boottime_ns();
	sim.unballoon_done_ns = 0;
	while (left && !ret) {
		u32 n = 0;

		while (left && n < per_msg) {
			u64 start, got;

			got = held_take(&sim.held, min(left, per_range), &start);
			msg->range_array[n++] = dm_range(start, got);
			left -= got;
			sim.unballoon_pages += got;
		}
		msg->more_pages = left ? 1 : 0;
		msg->range_count = n;
		header(&msg->hdr, DM_UNBALLOON_REQUEST, struct_size(msg, range_array, n), 0);
		ret = host_queue(msg, msg->hdr.size, false);
	}
	kfree(msg);
	return ret;
}

/* One unballoon request for any range, held or not (a bad range on demand). */
static int host_unballoon_range(u64 start, u64 count)
{
	struct {
		struct dm_unballoon_request req;
		u64 range;
	} __packed msg = {};

	if (count > DM_RANGE_MAX_COUNT || start >> DM_RANGE_PFN_BITS)
		return -ERANGE;
	header(&msg.req.hdr, DM_UNBALLOON_REQUEST, sizeof(msg), 0);
	msg.req.range_count = 1;
	msg.range = dm_range(start, count);
	sim.unballoon_pages += held_remove(&sim.held, start, count);
	sim.unballoon_pending = true;
	sim.unballoon_asked_ns = ktime_get_boottime_ns();
	sim.unballoon_done_ns = 0;
	return host_queue(&msg, sizeof(msg), false);
}

static int host_hot_add(u64 start, u64 count, bool region, u64 rg_start, u64 rg_count)
{
	struct dm_hot_add msg = {};
	u16 size = region ? sizeof(msg) : offsetof(struct dm_hot_add, region);

	if (count > DM_RANGE_MAX_COUNT || rg_count > DM_RANGE_MAX_COUNT ||
	    start >> DM_RANGE_PFN_BITS || rg_start >> DM_RANGE_PFN_BITS)
		return -ERANGE;
	header(&msg.hdr, DM_MEM_HOT_ADD_REQUEST, size, 0);
	msg.range = dm_range(start, count);
	msg.region = dm_range(rg_start, rg_count);
	sim.hot_add_pending = true;
	sim.hot_add_asked = count;
	return host_queue(&msg, size, false);
}

static int host_info(u64 max_pages, u32 info_size)
{
	struct dm_info_msg msg = {};

	header(&msg.hdr, DM_INFO_MESSAGE, sizeof(msg), 0);
	msg.info_size = info_size;
	msg.info_type = 0;
	msg.data_size = sizeof(u64);
	msg.max_page_count = max_pages;
	sim.info_max_page_count = max_pages;
	return host_queue(&msg, sizeof(msg), false);
}

/* Any header: type, packet length, hdr.size; zeroes after the header. */
static int host_raw(u64 type, u64 len, u64 hdr_size)
{
	struct dm_header *hdr;
	int ret;

	if (type > U16_MAX || hdr_size > U16_MAX || !len || len > HV_SIM_RAW_MAX)
		return -ERANGE;
	hdr = kzalloc(max_t(u64, len, sizeof(*hdr)), GFP_ATOMIC);
	if (!hdr)
		return -ENOMEM;
	header(hdr, type, hdr_size, 0);
	ret = host_queue(hdr, len, false);
	kfree(hdr);
	return ret;
}

static int set_refused(u64 version, bool refuse)
{
	u32 i;

	for (i = 0; i < sim.nr_refused; i++)
		if (sim.refused[i] == version)
			break;
	if (refuse && i == sim.nr_refused) {
		if (sim.nr_refused == HV_SIM_REFUSED_MAX)
			return -ENOSPC;
		sim.refused[sim.nr_refused++] = version;
	} else if (!refuse && i < sim.nr_refused) {
		sim.refused[i] = sim.refused[--sim.nr_refused];
	}
	return 0;
}

struct hv_sim_cmd {
	const char *name;
	int min_args;
	int max_args;
	bool needs_open;
};

enum {
	CMD_BALLOON, CMD_UNBALLOON, CMD_UNBALLOON_RANGE, CMD_HOT_ADD,
	CMD_HOT_ADD_REGION, CMD_INFO, CMD_RAW, CMD_REFUSE_VERSION,
	CMD_ACCEPT_VERSION, CMD_CAPS, CMD_EAGAIN, CMD_RESET_STATUS, CMD_SELFTEST,
	CMD_REPROBE, CMD_SUSPEND, CMD_RESUME,
};

static const struct hv_sim_cmd hv_sim_cmds[] = {
	[CMD_BALLOON] = { "balloon", 1, 1, true },
	[CMD_UNBALLOON] = { "unballoon", 1, 3, true },
	[CMD_UNBALLOON_RANGE] = { "unballoon_range", 2, 2, true },
	[CMD_HOT_ADD] = { "hot_add", 2, 2, true },
	[CMD_HOT_ADD_REGION] = { "hot_add_region", 4, 4, true },
	[CMD_INFO] = { "info", 1, 2, true },
	[CMD_RAW] = { "raw", 2, 3, true },
	[CMD_REFUSE_VERSION] = { "refuse_version", 1, 1, false },
	[CMD_ACCEPT_VERSION] = { "accept_version", 1, 1, false },
	[CMD_CAPS] = { "caps", 1, 1, false },
	[CMD_EAGAIN] = { "eagain", 1, 1, false },
	[CMD_RESET_STATUS] = { "reset_status", 0, 0, false },
	[CMD_SELFTEST] = { "selftest", 0, 0, false },
	[CMD_REPROBE] = { "reprobe", 0, 0, false },
	[CMD_SUSPEND] = { "suspend", 0, 0, false },
	[CMD_RESUME] = { "resume", 0, 0, false },
};

#define HV_SIM_MAX_ARGS 4

static int hv_sim_command(int cmd, const u64 *arg, int nargs)
{
	switch (cmd) {
	case CMD_BALLOON:
		return host_balloon(arg[0]);
	case CMD_UNBALLOON:
		return host_unballoon(arg[0], nargs > 1 ? arg[1] : HV_SIM_UNBALLOON_MAX,
				      nargs > 2 ? arg[2] : DM_RANGE_MAX_COUNT);
	case CMD_UNBALLOON_RANGE:
		return host_unballoon_range(arg[0], arg[1]);
	case CMD_HOT_ADD:
		return host_hot_add(arg[0], arg[1], false, 0, 0);
	case CMD_HOT_ADD_REGION:
		return host_hot_add(arg[0], arg[1], true, arg[2], arg[3]);
	case CMD_INFO:
		return host_info(arg[0], nargs > 1 ? arg[1] : 16);
	case CMD_RAW:
		return host_raw(arg[0], arg[1], nargs > 2 ? arg[2] : arg[1]);
	case CMD_REFUSE_VERSION:
	case CMD_ACCEPT_VERSION:
		if (arg[0] > U32_MAX)
			return -ERANGE;
		return set_refused(arg[0], cmd == CMD_REFUSE_VERSION);
	case CMD_CAPS:
		if (arg[0] > 1)
			return -EINVAL;
		sim.refuse_caps = !arg[0];
		return 0;
	case CMD_EAGAIN:
		if (arg[0] > U32_MAX)
			return -ERANGE;
		sim.eagain_left = arg[0];
		return 0;
	case CMD_RESET_STATUS:
		memset(&sim.status, 0, sizeof(sim.status));
		return 0;
	case CMD_SELFTEST:
		return hv_sim_selftest();
	}
	return -EINVAL;
}

/* "name arg..." with numbers in C notation; "caps accept|refuse" reads 1|0. */
static ssize_t request_write(struct file *file, const char __user *ubuf,
			     size_t count, loff_t *ppos)
{
	char buf[128], *p = buf, *word;
	u64 arg[HV_SIM_MAX_ARGS] = {};
	int cmd, nargs = 0, ret;
	unsigned long flags;

	if (!count || count >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = '\0';
	word = strsep(&p, " \t\n");
	for (cmd = 0; cmd < ARRAY_SIZE(hv_sim_cmds); cmd++)
		if (!strcmp(word, hv_sim_cmds[cmd].name))
			break;
	if (cmd == ARRAY_SIZE(hv_sim_cmds))
		return -EINVAL;
	while ((word = strsep(&p, " \t\n"))) {
		if (!*word)
			continue;
		if (nargs == HV_SIM_MAX_ARGS)
			return -E2BIG;
		if (cmd == CMD_CAPS && !strcmp(word, "accept"))
			arg[nargs] = 1;
		else if (cmd == CMD_CAPS && !strcmp(word, "refuse"))
			arg[nargs] = 0;
		else if (kstrtou64(word, 0, &arg[nargs]))
			return -EINVAL;
		nargs++;
	}
	if (nargs < hv_sim_cmds[cmd].min_args || nargs > hv_sim_cmds[cmd].max_args)
		return -EINVAL;

	/* A probe sleeps (the driver waits for the host): no lock held here. */
	if (cmd == CMD_REPROBE) {
		ret = hv_sim_reprobe();
		return ret ? ret : count;
	}
	if (cmd == CMD_SUSPEND || cmd == CMD_RESUME) {
		ret = hv_sim_pm(cmd == CMD_RESUME);
		return ret ? ret : count;
	}
	spin_lock_irqsave(&sim.lock, flags);
	if (hv_sim_cmds[cmd].needs_open && !sim.open)
		ret = -ENOTCONN;
	else
		ret = hv_sim_command(cmd, arg, nargs);
	spin_unlock_irqrestore(&sim.lock, flags);
	host_kick();
	return ret ? ret : count;
}

static const struct file_operations request_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = request_write,
	.llseek = noop_llseek,
};

static int state_show(struct seq_file *f, void *unused)
{
	struct hv_sim_status *s = &sim.status;
	unsigned long flags;
	u32 i;

	spin_lock_irqsave(&sim.lock, flags);
	seq_printf(f, "driver: %s\n", sim.drv_name[0] ? sim.drv_name : "-");
	seq_printf(f, "probes: %u\n", sim.probes);
	seq_printf(f, "probe_result: %d\n", sim.probe_result);
	seq_printf(f, "bound: %d\n", sim.probed);
	seq_printf(f, "open: %d\n", sim.open);
	seq_printf(f, "suspended: %d\n", sim.suspended);
	seq_printf(f, "suspends: %u\n", sim.suspends);
	seq_printf(f, "resumes: %u\n", sim.resumes);
	seq_printf(f, "pm_result: %d\n", sim.pm_result);
	seq_printf(f, "send_ring_size: %u\n", sim.send_ring_size);
	seq_printf(f, "recv_ring_size: %u\n", sim.recv_ring_size);
	seq_printf(f, "max_pkt_size: %u\n", sim.max_pkt_size);
	seq_printf(f, "version: 0x%x\n", sim.version);
	seq_puts(f, "version_requests:");
	for (i = 0; i < sim.nr_version_log; i++)
		seq_printf(f, " 0x%x/%u", sim.version_log[i], sim.version_log_last[i]);
	seq_puts(f, "\nrefused_versions:");
	for (i = 0; i < sim.nr_refused; i++)
		seq_printf(f, " 0x%x", sim.refused[i]);
	seq_printf(f, "\ncaps: 0x%llx\n", sim.caps);
	seq_printf(f, "caps_min_page_cnt: %llu\n", sim.caps_min_page_cnt);
	seq_printf(f, "caps_max_page_number: 0x%llx\n", sim.caps_max_page_number);
	seq_printf(f, "caps_accepted: %d\n", sim.caps_accepted);
	seq_printf(f, "held_pages: %llu\n", sim.held.pages);
	seq_printf(f, "held_ranges: %llu\n", sim.held.ranges);
	seq_printf(f, "balloon_pending: %d\n", sim.balloon_pending);
	seq_printf(f, "balloon_asked: %llu\n", sim.balloon_asked);
	seq_printf(f, "balloon_got: %llu\n", sim.balloon_got);
	seq_printf(f, "balloon_responses: %llu\n", sim.balloon_responses);
	seq_printf(f, "balloon_ranges: %llu\n", sim.balloon_ranges);
	seq_printf(f, "balloon_max_ranges: %llu\n", sim.balloon_max_ranges);
	seq_printf(f, "balloon_asked_ns: %llu\n", sim.balloon_asked_ns);
	seq_printf(f, "balloon_done_ns: %llu\n", sim.balloon_done_ns);
	seq_printf(f, "unballoon_pending: %d\n", sim.unballoon_pending);
	seq_printf(f, "unballoon_pages: %llu\n", sim.unballoon_pages);
	seq_printf(f, "unballoon_asked_ns: %llu\n", sim.unballoon_asked_ns);
	seq_printf(f, "unballoon_done_ns: %llu\n", sim.unballoon_done_ns);
	seq_printf(f, "hot_add_pending: %d\n", sim.hot_add_pending);
	seq_printf(f, "hot_add_asked: %llu\n", sim.hot_add_asked);
	seq_printf(f, "hot_added_pages: %llu\n", sim.hot_added_pages);
	seq_printf(f, "hot_add_last_count: %u\n", sim.hot_add_last_count);
	seq_printf(f, "hot_add_last_result: %u\n", sim.hot_add_last_result);
	seq_printf(f, "info_max_page_count: %llu\n", sim.info_max_page_count);
	seq_printf(f, "status_count: %llu\n", s->count);
	seq_printf(f, "status_first_ns: %llu\n", s->first_ns);
	seq_printf(f, "status_last_ns: %llu\n", s->last_ns);
	seq_printf(f, "status_min_gap_ns: %llu\n", s->min_gap_ns);
	seq_printf(f, "status_max_gap_ns: %llu\n", s->max_gap_ns);
	seq_printf(f, "status_num_avail: %llu\n", s->num_avail);
	seq_printf(f, "status_num_committed: %llu\n", s->num_committed);
	seq_printf(f, "now_ns: %llu\n", ktime_get_boottime_ns());
	seq_printf(f, "queued: %u\n", sim.queued);
	seq_printf(f, "callbacks: %llu\n", sim.callbacks);
	seq_printf(f, "eagain_left: %u\n", sim.eagain_left);
	seq_printf(f, "eagain_returned: %llu\n", sim.eagain_returned);
	seq_printf(f, "enobufs: %llu\n", sim.enobufs);
	seq_printf(f, "err_short: %llu\n", sim.err_short);
	seq_printf(f, "err_size: %llu\n", sim.err_size);
	seq_printf(f, "err_unexpected: %llu\n", sim.err_unexpected);
	seq_printf(f, "err_overlap: %llu\n", sim.err_overlap);
	seq_printf(f, "err_closed: %llu\n", sim.err_closed);
	seq_printf(f, "err_packet_type: %llu\n", sim.err_packet_type);
	seq_printf(f, "rx_bytes: %llu\n", sim.rx_bytes);
	for (i = 0; i < DM_NR_TYPES; i++)
		seq_printf(f, "rx_%s: %llu\n", dm_type_names[i], sim.rx[i]);
	seq_printf(f, "rx_other: %llu\n", sim.rx[DM_NR_TYPES]);
	for (i = 0; i < DM_NR_TYPES; i++)
		seq_printf(f, "tx_%s: %llu\n", dm_type_names[i], sim.tx[i]);
	seq_printf(f, "tx_other: %llu\n", sim.tx[DM_NR_TYPES]);
	spin_unlock_irqrestore(&sim.lock, flags);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(state);

/* The held ranges, "start count" in hex PFNs, one a line; a snapshot per read. */
static int ranges_show(struct seq_file *f, void *unused)
{
	struct hv_sim_range *r;
	unsigned long flags;
	struct rb_node *n;
	char *buf;
	size_t len = 0, size;

	/* Format under the lock into a buffer, then print with no lock held. */
	spin_lock_irqsave(&sim.lock, flags);
	size = (sim.held.ranges + 1) * 40;
	spin_unlock_irqrestore(&sim.lock, flags);
	buf = kvmalloc(size, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	spin_lock_irqsave(&sim.lock, flags);
	for (n = rb_first(&sim.held.root); n && len + 40 <= size; n = rb_next(n)) {
		r = held_entry(n);
		len += scnprintf(buf + len, size - len, "0x%llx 0x%llx\n", r->start, r->count);
	}
	spin_unlock_irqrestore(&sim.lock, flags);
	seq_write(f, buf, len);
	kvfree(buf);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ranges);

static void hv_sim_release(struct device *dev)
{
}

static int __init hv_sim_init(void)
{
	int i, ret;

	spin_lock_init(&sim.lock);
	INIT_LIST_HEAD(&sim.queue);
	sim.held.root = RB_ROOT;
	sim.refuse_caps = refuse_caps;
	for (i = 0; i < nr_refuse_versions; i++) {
		ret = set_refused(refuse_versions[i], true);
		if (ret)
			return ret;
	}
	sim.chan = kzalloc(sizeof(*sim.chan), GFP_KERNEL);
	if (!sim.chan)
		return -ENOMEM;
	tasklet_setup(&sim.chan->callback_event, hv_sim_tasklet);
	sim.chan->device_obj = &sim.hdev;
	guid_copy(&sim.chan->offermsg.offer.if_type, &hv_sim_dm_guid);
	sim.hdev.dev_type = hv_sim_dm_guid;
	sim.hdev.dev_instance = hv_sim_instance_guid;
	sim.hdev.channel = sim.chan;
	ret = bus_register(&hv_sim_bus);
	if (ret) {
		kfree(sim.chan);
		return ret;
	}
	device_initialize(&sim.hdev.device);
	sim.hdev.device.release = hv_sim_release;
	sim.hdev.device.bus = &hv_sim_bus;
	/* Named by its instance GUID, as vmbus names its devices. */
	ret = dev_set_name(&sim.hdev.device, "%pUl", &sim.hdev.dev_instance);
	if (!ret)
		ret = device_add(&sim.hdev.device);
	if (ret) {
		put_device(&sim.hdev.device);
		bus_unregister(&hv_sim_bus);
		kfree(sim.chan);
		return ret;
	}

	hv_sim_dir = debugfs_create_dir("hv_sim", NULL);
	debugfs_create_file("request", 0200, hv_sim_dir, NULL, &request_fops);
	debugfs_create_file("state", 0444, hv_sim_dir, NULL, &state_fops);
	debugfs_create_file("ranges", 0444, hv_sim_dir, NULL, &ranges_fops);
	pr_info("hv_sim_vmbus: simulated VMBus with one Dynamic Memory device\n");
	return 0;
}

/* Only reachable with no driver bound: hv_balloon, once loaded, stays. */
static void __exit hv_sim_exit(void)
{
	debugfs_remove_recursive(hv_sim_dir);
	if (sim.open)
		hv_sim_close(sim.chan);
	tasklet_kill(&sim.chan->callback_event);
	queue_clear();
	held_clear(&sim.held);
	device_unregister(&sim.hdev.device);
	bus_unregister(&hv_sim_bus);
	kfree(sim.chan);
}

module_init(hv_sim_init);
module_exit(hv_sim_exit);
MODULE_DESCRIPTION("Simulated VMBus and Hyper-V Dynamic Memory host, for tests");
MODULE_LICENSE("GPL");
