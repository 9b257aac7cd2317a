// SPDX-License-Identifier: GPL-2.0
/*
 * Telling the host which pages to lock (inflate) or unlock (deflate):
 * up to 512 in one command through the batch page where the host grants
 * BATCHED, else one LOCK or UNLOCK per page. The host answers each entry
 * of a batch; a status for the whole command overrides them all.
 */
#include <linux/mm.h>
#include <linux/printk.h>
#include <linux/ratelimit.h>

#include "vmwb.h"

static enum vmwb_cmd vmwb_op_cmd(struct vmwb *b, enum vmwb_size size, enum vmwb_op op)
{
	if (!b->batch)
		return op == VMWB_INFLATE ? VMWB_CMD_LOCK : VMWB_CMD_UNLOCK;
	if (size == VMWB_2M)
		return op == VMWB_INFLATE ? VMWB_CMD_BATCHED_2M_LOCK :
					    VMWB_CMD_BATCHED_2M_UNLOCK;
	return op == VMWB_INFLATE ? VMWB_CMD_BATCHED_LOCK : VMWB_CMD_BATCHED_UNLOCK;
}

/* The single-page commands carry a 32-bit PFN, whatever the capabilities. */
static unsigned long vmwb_single(struct vmwb *b, enum vmwb_cmd cmd, struct page *page)
{
	unsigned long pfn = page_to_pfn(page);

	if (pfn != (u32)pfn)
		return VMWB_ERR_PPN_INVALID;
	return vmwb_cmd(b, cmd, pfn, 0, NULL);
}

static unsigned long vmwb_batched(struct vmwb *b, enum vmwb_cmd cmd, unsigned int n)
{
	return vmwb_cmd(b, cmd, PHYS_PFN(virt_to_phys(b->batch)), n, NULL);
}

/* Refusals of one command, summed, for one log line. */
struct vmwb_refusals {
	unsigned int n;
	unsigned int by_status[VMWB_NR_STATUSES];
	unsigned int unknown;
	unsigned long unknown_status;
};

static void vmwb_note_refusal(struct vmwb_refusals *r, unsigned long status)
{
	r->n++;
	if (status < VMWB_NR_STATUSES) {
		r->by_status[status]++;
	} else {
		r->unknown++;
		r->unknown_status = status;
	}
}

/*
 * NOTNEEDED is the host saying it has enough, and LOCKED/UNLOCKED follow a
 * reset the host did not announce: both are routine. PINNED, INVALID and
 * codes the protocol does not define say something about the host or the
 * page, and are worth a line.
 */
static void vmwb_log_refusals(enum vmwb_cmd cmd, unsigned int total,
			      const struct vmwb_refusals *r)
{
	char line[160];
	int len = 0;
	unsigned int s;

	if (!r->n || r->n == r->by_status[VMWB_ERR_PPN_NOTNEEDED])
		return;
	for (s = 1; s < VMWB_NR_STATUSES; s++)
		if (r->by_status[s])
			len += scnprintf(line + len, sizeof(line) - len, " %u %s",
					 r->by_status[s], vmwb_status_name(s, NULL, 0));
	if (r->unknown)
		len += scnprintf(line + len, sizeof(line) - len, " %u unknown (last %#lx)",
				 r->unknown, r->unknown_status);
	pr_warn_ratelimited("%s: host refused %u of %u pages:%s\n", vmwb_cmd_names[cmd],
			    r->n, total, line);
}

/*
 * Lock or unlock the pages on @ctl->pages with the host. Refused pages
 * move to @ctl->refused. With @wait false the caller never waits for the
 * host lock (migration, shrinker, OOM), and gets -EAGAIN if it is taken.
 * Returns 0, or -EIO when the host refused the whole command.
 */
int vmwb_lock_list(struct vmwb *b, struct vmwb_ctl *ctl, bool wait)
{
	enum vmwb_cmd cmd = vmwb_op_cmd(b, ctl->size, ctl->op);
	struct vmwb_refusals refusals = {};
	unsigned long status, whole = VMWB_OK;
	unsigned int i = 0, total = ctl->n_pages;
	struct page *page, *next;

	if (!total)
		return 0;
	if (wait)
		mutex_lock(&b->comm_lock);
	else if (!mutex_trylock(&b->comm_lock))
		return -EAGAIN;

	if (b->batch) {
		list_for_each_entry(page, &ctl->pages, lru)
			b->batch[i++] = (u64)page_to_pfn(page) << VMWB_ENTRY_PFN_SHIFT;
		whole = vmwb_batched(b, cmd, total);
	}
	i = 0;
	list_for_each_entry_safe(page, next, &ctl->pages, lru) {
		if (b->batch)
			status = whole != VMWB_OK ? whole : b->batch[i] & VMWB_ENTRY_STATUS;
		else
			status = vmwb_single(b, cmd, page);
		i++;
		if (status == VMWB_OK)
			continue;
		vmwb_note_refusal(&refusals, status);
		list_move(&page->lru, &ctl->refused);
		ctl->n_pages--;
		ctl->n_refused++;
		/* A reset or BUSY stops the round: the rest would fail alike. */
		if (!b->batch && (status == VMWB_ERR_RESET || status == VMWB_ERR_BUSY)) {
			whole = status;
			page = next;
			list_for_each_entry_safe_from(page, next, &ctl->pages, lru) {
				list_move(&page->lru, &ctl->refused);
				ctl->n_pages--;
				ctl->n_refused++;
			}
			break;
		}
	}
	mutex_unlock(&b->comm_lock);

	if (ctl->op == VMWB_INFLATE)
		atomic64_add(refusals.n, &b->stats.page[VMWB_PSTAT_REFUSED_ALLOC][ctl->size]);
	if (whole != VMWB_OK) {
		vmwb_log_status(b, cmd, whole);
		return -EIO;
	}
	vmwb_log_refusals(cmd, total, &refusals);
	return 0;
}

/* One 4 KiB page, for migration; the caller holds comm_lock. */
unsigned long vmwb_lock_one(struct vmwb *b, struct page *page, enum vmwb_op op)
{
	enum vmwb_cmd cmd = vmwb_op_cmd(b, VMWB_4K, op);
	unsigned long status;

	lockdep_assert_held(&b->comm_lock);
	if (!b->batch)
		return vmwb_single(b, cmd, page);
	b->batch[0] = (u64)page_to_pfn(page) << VMWB_ENTRY_PFN_SHIFT;
	status = vmwb_batched(b, cmd, 1);
	if (status == VMWB_OK)
		status = b->batch[0] & VMWB_ENTRY_STATUS;
	return status;
}
