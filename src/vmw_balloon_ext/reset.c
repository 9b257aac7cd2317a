// SPDX-License-Identifier: GPL-2.0
/*
 * (Re)starting the protocol. At load, and whenever the host answers
 * RESET, the host has forgotten every page: the balloon is emptied
 * without unlocking, START asks for our capabilities, and the host's
 * answer decides between batched and single-page commands and whether
 * 2 MiB pages are used. A START that fails is tried again each second.
 */
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/printk.h>

#include "vmwb.h"

void vmwb_disable_batching(struct vmwb *b)
{
	if (b->batch)
		free_page((unsigned long)b->batch);
	b->batch = NULL;
	b->batch_max = 1;
}

static int vmwb_enable_batching(struct vmwb *b)
{
	if (!b->batch) {
		b->batch = (u64 *)get_zeroed_page(GFP_KERNEL);
		if (!b->batch)
			return -ENOMEM;
	}
	b->batch_max = VMWB_BATCH_MAX;
	return 0;
}

static int vmwb_start(struct vmwb *b, unsigned long caps)
{
	unsigned long status, granted = 0;

	status = vmwb_cmd(b, VMWB_CMD_START, caps, 0, &granted);
	switch (status) {
	case VMWB_OK_WITH_CAPS:
		b->caps = granted;
		break;
	case VMWB_OK:
		b->caps = VMWB_CAP_BASIC;
		break;
	default:
		b->caps = 0;
		vmwb_log_status(b, VMWB_CMD_START, status);
		return -EIO;
	}
	if (caps && (b->caps & ~caps))
		pr_warn_ratelimited("host granted capabilities %#lx, more than the %#lx asked; using only those asked\n",
				    b->caps, caps);
	b->caps &= caps;
	/* 2 MiB pages only go through the batch page. */
	b->max_size = (b->caps & VMWB_CAP_BATCHED) && (b->caps & VMWB_CAP_BATCHED_2M) ?
		      VMWB_2M : VMWB_4K;
	return 0;
}

void vmwb_reset(struct vmwb *b)
{
	unsigned long status;

	down_write(&b->conf_sem);
	vmwb_doorbell_cleanup(b);
	vmwb_pop(b);

	if (vmwb_start(b, VMWB_CAPS))
		goto out;
	if (b->caps & VMWB_CAP_BATCHED) {
		if (vmwb_enable_batching(b)) {
			pr_err_ratelimited("no memory for the batch page; telling the host and trying again in a second\n");
			vmwb_start(b, 0);
			goto out;
		}
	} else if (b->caps & VMWB_CAP_BASIC) {
		vmwb_disable_batching(b);
	} else {
		pr_err_ratelimited("host granted neither single-page nor batched commands (capabilities %#lx); trying again in a second\n",
				   b->caps);
		goto out;
	}
	atomic64_inc(&b->stats.stat[VMWB_STAT_RESET]);
	WRITE_ONCE(b->reset_required, false);

	if (vmwb_doorbell_init(b))
		pr_err_once("cannot set up the VMCI doorbell; polling each second instead\n");
	status = vmwb_cmd(b, VMWB_CMD_GUEST_ID, VMWB_GUEST_LINUX, 0, NULL);
	if (status != VMWB_OK)
		pr_err_once("cannot send the guest ID to the host (status %lu)\n", status);
	pr_info("host protocol started: capabilities %#lx, %s, up to %s pages\n", b->caps,
		b->batch ? "batched" : "one page per command",
		b->max_size == VMWB_2M ? "2 MiB" : "4 KiB");
out:
	up_write(&b->conf_sem);
}

/*
 * GET_TARGET sends the guest's size in frames; without the 64-bit
 * capability a size over 32 bits cannot be sent at all.
 */
void vmwb_get_target(struct vmwb *b)
{
	unsigned long limit = totalram_pages(), status;

	if (!(b->caps & VMWB_CAP_64BIT_TARGET) && limit != (u32)limit) {
		pr_err_ratelimited("guest has %lu frames, more than a 32-bit target can say, and the host grants no 64-bit target\n",
				   limit);
		return;
	}
	WRITE_ONCE(b->limit, limit);
	status = vmwb_cmd(b, VMWB_CMD_GET_TARGET, limit, 0, NULL);
	vmwb_log_status(b, VMWB_CMD_GET_TARGET, status);
	if (status == VMWB_OK && b->source)
		balloon_core_set_target(b->source, (long)READ_ONCE(b->host_target) <<
						   (PAGE_SHIFT - 10));
}

/* At exit: the host forgets every page the balloon still holds. */
void vmwb_stop_protocol(struct vmwb *b)
{
	vmwb_start(b, 0);
}
