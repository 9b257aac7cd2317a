// SPDX-License-Identifier: GPL-2.0
/*
 * Connecting to the host: the version (2.0, then 1.0, then 0.3, each
 * answer awaited up to 5 s), then the capabilities report (5 s).
 */
#include <linux/jiffies.h>
#include <linux/log2.h>
#include <linux/sizes.h>

#include "hvb.h"

#define HVB_WAIT	(5 * HZ)

static const u32 hvb_versions[] = {
	HVB_VERSION_WIN10, HVB_VERSION_WIN8, HVB_VERSION_WIN7,
};

/* Send @msg and wait for the response of @type. */
static int hvb_ask(struct hvb *b, void *msg, u16 type)
{
	int ret;

	reinit_completion(&b->host_event);
	b->accepted = false;
	WRITE_ONCE(b->expect, type);
	ret = hvb_send(b, msg);
	if (ret) {
		WRITE_ONCE(b->expect, 0);
		return ret;
	}
	if (!wait_for_completion_timeout(&b->host_event, HVB_WAIT)) {
		WRITE_ONCE(b->expect, 0);
		return -ETIMEDOUT;
	}
	return 0;
}

static int hvb_negotiate_version(struct hvb *b)
{
	struct hvb_version_req req;
	unsigned int i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(hvb_versions); i++) {
		memset(&req, 0, sizeof(req));
		hvb_hdr_init(&req.hdr, HVB_MSG_VERSION_REQUEST, sizeof(req));
		req.version = hvb_versions[i];
		req.flags = i == ARRAY_SIZE(hvb_versions) - 1;
		ret = hvb_ask(b, &req, HVB_MSG_VERSION_RESPONSE);
		if (ret)
			return ret;
		if (b->accepted) {
			b->version = hvb_versions[i];
			pr_info("Using Dynamic Memory protocol version %u.%u\n",
				HVB_VERSION_MAJOR(b->version), HVB_VERSION_MINOR(b->version));
			return 0;
		}
	}
	pr_err("the host accepted no protocol version\n");
	return -EPROTO;
}

/* log2 of the hot-add unit in MiB, as the 4-bit caps field holds it. */
static u64 hvb_caps_alignment(void)
{
	unsigned long mib = (hvb_chunk_pages() << PAGE_SHIFT) / SZ_1M;

	return min_t(u64, mib ? ilog2(mib) : 0, 15);
}

static int hvb_report_caps(struct hvb *b)
{
	struct hvb_caps caps;
	int ret;

	memset(&caps, 0, sizeof(caps));
	hvb_hdr_init(&caps.hdr, HVB_MSG_CAPS_REPORT, sizeof(caps));
	/*
	 * The host requires both bits even in hibernation mode, where the
	 * requests are then ignored (in-tree does the same).
	 */
	caps.caps = HVB_CAP_BALLOON | HVB_CAP_HOT_ADD |
		    hvb_caps_alignment() << HVB_CAP_ALIGN_SHIFT;
	caps.min_page_cnt = 0;
	caps.max_page_number = ~0ULL;
	ret = hvb_ask(b, &caps, HVB_MSG_CAPS_RESPONSE);
	if (ret)
		return ret;
	if (!b->accepted) {
		pr_err("Capabilities not accepted by host\n");
		return -EPROTO;
	}
	return 0;
}

/**
 * hvb_connect() - open the channel and negotiate with the host
 * @b: the device
 *
 * Return: 0 when connected, else a negative error with the channel closed.
 */
int hvb_connect(struct hvb *b)
{
	int ret;

	WRITE_ONCE(b->state, HVB_INITIALIZING);
	ret = hvb_channel_open(b);
	if (ret) {
		pr_err("opening the channel failed: %d\n", ret);
		goto fail;
	}
	ret = hvb_negotiate_version(b);
	if (!ret)
		ret = hvb_report_caps(b);
	if (ret) {
		if (ret == -ETIMEDOUT)
			pr_err("the host did not answer within 5 s\n");
		hvb_channel_close(b);
		goto fail;
	}
	WRITE_ONCE(b->state, HVB_INITIALIZED);
	hvb_set_connected(b, true);
	return 0;
fail:
	WRITE_ONCE(b->state, HVB_INIT_ERROR);
	return ret;
}
