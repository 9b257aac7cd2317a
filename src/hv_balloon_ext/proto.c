// SPDX-License-Identifier: GPL-2.0
/*
 * The channel callback: read every waiting host message, check it, and
 * hand it on. It runs in softirq, so it never sleeps: negotiation answers
 * wake the waiting probe, the info message is read here, and requests go
 * to the workqueue. A message that is short, oversized, of a type the
 * guest does not take, or that comes when the guest expects no such
 * message is logged (rate-limited) and dropped: no state changes.
 */
#include <linux/atomic.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "hvb.h"

static atomic_t hvb_trans_id = ATOMIC_INIT(0);

/* Every guest message gets the next transaction id, as in-tree. */
void hvb_hdr_init(struct hvb_hdr *hdr, u16 type, u16 size)
{
	hdr->type = type;
	hdr->size = size;
	hdr->trans_id = atomic_inc_return(&hvb_trans_id);
}

#define hvb_drop(fmt, ...) pr_warn_ratelimited("dropped host message: " fmt, ##__VA_ARGS__)

static void hvb_on_negotiation(struct hvb *b, const struct hvb_hdr *hdr)
{
	/* Both responses have the same layout: the header and 64 flag bits. */
	const struct hvb_version_resp *resp = (const void *)hdr;

	if (READ_ONCE(b->expect) != hdr->type) {
		hvb_drop("type %u while not negotiating it\n", hdr->type);
		return;
	}
	if (hdr->size < sizeof(*resp)) {
		hvb_drop("type %u of %u bytes, short\n", hdr->type, hdr->size);
		return;
	}
	b->accepted = resp->flags & 1;
	WRITE_ONCE(b->expect, 0);
	complete(&b->host_event);
}

static void hvb_on_info(struct hvb *b, const struct hvb_hdr *hdr)
{
	const struct hvb_info *info = (const void *)hdr;
	u64 max_pages;

	if (hdr->size < sizeof(*info) ||
	    info->info_size > hdr->size - offsetof(struct hvb_info, info_type) ||
	    info->info_size < sizeof(*info) - offsetof(struct hvb_info, info_type) ||
	    info->data_size > info->info_size -
			      (sizeof(*info) - offsetof(struct hvb_info, info_type))) {
		hvb_drop("info message of %u bytes with info_size %u, inconsistent\n",
			 hdr->size, hdr->size >= sizeof(*info) ? info->info_size : 0);
		return;
	}
	if (info->info_type != HVB_INFO_MAX_PAGE_CNT || info->data_size != sizeof(max_pages)) {
		pr_info_ratelimited("ignored info type %u of %u bytes\n", info->info_type,
				    info->data_size);
		return;
	}
	memcpy(&max_pages, info->data, sizeof(max_pages));
	WRITE_ONCE(b->max_dynamic_page_count, max_pages);
	pr_info("Max. dynamic memory size: %llu MB\n", max_pages >> (20 - HV_HYP_PAGE_SHIFT));
}

static void hvb_on_balloon(struct hvb *b, const struct hvb_hdr *hdr)
{
	const struct hvb_balloon_req *req = (const void *)hdr;

	if (hdr->size < sizeof(*req)) {
		hvb_drop("balloon request of %u bytes, short\n", hdr->size);
		return;
	}
	if (b->hibernation) {
		pr_info_ratelimited("Ignore balloon-up request!\n");
		return;
	}
	spin_lock(&b->req_lock);
	if (!b->connected) {
		spin_unlock(&b->req_lock);
		return;
	}
	if (b->up_pending)
		pr_warn_ratelimited("Currently ballooning: the newer request replaces the older\n");
	b->up_pages = req->num_pages;
	b->up_pending = true;
	queue_work(b->wq, &b->up_work);
	spin_unlock(&b->req_lock);
}

static void hvb_on_unballoon(struct hvb *b, const struct hvb_hdr *hdr)
{
	const struct hvb_unballoon_req *req = (const void *)hdr;
	struct hvb_pending_msg *m;

	if (hdr->size < sizeof(*req) ||
	    req->range_count > (hdr->size - sizeof(*req)) / sizeof(struct hvb_range)) {
		hvb_drop("unballoon request of %u bytes for %u ranges, short\n", hdr->size,
			 hdr->size >= sizeof(*req) ? req->range_count : 0);
		return;
	}
	if (b->hibernation) {
		pr_info_ratelimited("Ignore balloon-down request!\n");
		return;
	}
	m = kmalloc(sizeof(*m) + hdr->size, GFP_ATOMIC | __GFP_NOWARN);
	if (!m) {
		hvb_drop("unballoon request: no memory for a copy\n");
		return;
	}
	m->len = hdr->size;
	memcpy(m->data, hdr, hdr->size);
	spin_lock(&b->req_lock);
	if (!b->connected || b->nr_down_msgs >= HVB_MAX_PENDING_DOWN) {
		spin_unlock(&b->req_lock);
		kfree(m);
		hvb_drop("unballoon request: %u already waiting\n", HVB_MAX_PENDING_DOWN);
		return;
	}
	list_add_tail(&m->list, &b->down_msgs);
	b->nr_down_msgs++;
	queue_work(b->wq, &b->down_work);
	spin_unlock(&b->req_lock);
}

static void hvb_on_hot_add(struct hvb *b, const struct hvb_hdr *hdr)
{
	if (hdr->size != HVB_HOT_ADD_REQ_SIZE && hdr->size != sizeof(struct hvb_hot_add_req)) {
		hvb_drop("hot-add request of %u bytes, neither %zu nor %zu\n", hdr->size,
			 HVB_HOT_ADD_REQ_SIZE, sizeof(struct hvb_hot_add_req));
		return;
	}
	spin_lock(&b->req_lock);
	if (!b->connected) {
		spin_unlock(&b->req_lock);
		return;
	}
	if (b->ha_pending) {
		spin_unlock(&b->req_lock);
		hvb_drop("hot-add request while one is being handled\n");
		return;
	}
	memset(&b->ha_req, 0, sizeof(b->ha_req));
	memcpy(&b->ha_req, hdr, hdr->size);
	b->ha_req_size = hdr->size;
	b->ha_pending = true;
	queue_work(b->wq, &b->ha_work);
	spin_unlock(&b->req_lock);
}

static void hvb_dispatch(struct hvb *b, u32 len)
{
	const struct hvb_hdr *hdr = (const void *)b->recv_buf;

	if (len < sizeof(*hdr)) {
		hvb_drop("%u bytes, shorter than a header\n", len);
		return;
	}
	if (hdr->size < sizeof(*hdr) || hdr->size > len) {
		hvb_drop("type %u says %u bytes in a packet of %u\n", hdr->type, hdr->size, len);
		return;
	}
	if (hdr->size > HVB_MSG_MAX) {
		hvb_drop("type %u of %u bytes, oversized\n", hdr->type, hdr->size);
		return;
	}

	switch (hdr->type) {
	case HVB_MSG_VERSION_RESPONSE:
	case HVB_MSG_CAPS_RESPONSE:
		hvb_on_negotiation(b, hdr);
		return;
	case HVB_MSG_BALLOON_REQUEST:
	case HVB_MSG_UNBALLOON_REQUEST:
	case HVB_MSG_HOT_ADD_REQUEST:
	case HVB_MSG_INFO:
		break;
	default:
		hvb_drop("Unhandled message: type: %u\n", hdr->type);
		return;
	}

	if (!READ_ONCE(b->connected)) {
		hvb_drop("type %u before the protocol was negotiated\n", hdr->type);
		return;
	}
	switch (hdr->type) {
	case HVB_MSG_BALLOON_REQUEST:
		hvb_on_balloon(b, hdr);
		break;
	case HVB_MSG_UNBALLOON_REQUEST:
		hvb_on_unballoon(b, hdr);
		break;
	case HVB_MSG_HOT_ADD_REQUEST:
		hvb_on_hot_add(b, hdr);
		break;
	case HVB_MSG_INFO:
		hvb_on_info(b, hdr);
		break;
	}
}

/**
 * hvb_on_channel() - the VMBus channel callback
 * @context: our &struct hvb
 *
 * Reads until the ring is empty. Context: softirq (the channel tasklet);
 * never sleeps.
 */
void hvb_on_channel(void *context)
{
	struct hvb *b = context;
	u32 len;
	int ret;

	for (;;) {
		len = 0;
		ret = hvb_recv(b, &len);
		if (ret == -ENOBUFS) {
			/* Not on a real ring; vmbus would keep the packet. */
			hvb_drop("%u bytes, larger than the %u-byte buffer\n", len,
				 (unsigned int)HVB_RECV_BUF);
			return;
		}
		if (ret) {
			pr_warn_ratelimited("reading the channel failed: %d\n", ret);
			return;
		}
		if (!len)
			return;
		hvb_dispatch(b, len);
	}
}

/**
 * hvb_set_connected() - let requests through to the workqueue, or stop them
 * @b: the device
 * @on: the new state
 *
 * Once this returned with @on false, the channel callback queues no work.
 */
void hvb_set_connected(struct hvb *b, bool on)
{
	spin_lock_bh(&b->req_lock);
	WRITE_ONCE(b->connected, on);
	spin_unlock_bh(&b->req_lock);
}

/* Forget requests still waiting (remove, suspend): the host re-sends. */
void hvb_drop_pending(struct hvb *b)
{
	struct hvb_pending_msg *m, *next;
	LIST_HEAD(msgs);

	spin_lock_bh(&b->req_lock);
	list_splice_init(&b->down_msgs, &msgs);
	b->nr_down_msgs = 0;
	b->up_pending = false;
	b->ha_pending = false;
	spin_unlock_bh(&b->req_lock);
	list_for_each_entry_safe(m, next, &msgs, list)
		kfree(m);
}
