// SPDX-License-Identifier: GPL-2.0
/*
 * Compaction moves a ballooned 4 KiB page: the host unlocks the old page
 * first, then locks the new one. The other order would fail exactly
 * when the balloon is at its target, where it spends most of its life: a
 * host with enough pages answers the new lock with NOTNEEDED.
 *
 * If the host refuses the new page after unlocking the old one, the
 * balloon is one page smaller: the old page leaves it for good. The
 * kernel's migration paths never touch NR_BALLOON_PAGES (7.x's -ENOENT
 * branch counts the deflate but not the page), so we take the page out
 * of that count ourselves; the in-tree driver leaves it counted.
 *
 * Migration never waits: a reset in progress, or a host call in flight,
 * and compaction is told to try again later.
 */
#include <linux/mm.h>
#include <linux/printk.h>

#include "vmwb.h"

int vmwb_migratepage(struct balloon_dev_info *info, struct page *newpage,
		     struct page *page, enum migrate_mode mode)
{
	struct vmwb *b = container_of(info, struct vmwb, balloon.info);
	unsigned long status;
	char buf[32];
	int ret;

	if (!down_read_trylock(&b->conf_sem))
		return -EAGAIN;
	if (!mutex_trylock(&b->comm_lock)) {
		up_read(&b->conf_sem);
		return -EAGAIN;
	}
	status = vmwb_lock_one(b, page, VMWB_DEFLATE);
	if (status != VMWB_OK) {
		mutex_unlock(&b->comm_lock);
		up_read(&b->conf_sem);
		if (status != VMWB_ERR_BUSY && status != VMWB_ERR_RESET)
			pr_warn_ratelimited("migration: host refused to unlock pfn %#lx: %s\n",
					    page_to_pfn(page),
					    vmwb_status_name(status, buf, sizeof(buf)));
		/* The page stays in the balloon, locked. */
		return status == VMWB_ERR_BUSY ? -EAGAIN : -EBUSY;
	}
	status = vmwb_lock_one(b, newpage, VMWB_INFLATE);
	mutex_unlock(&b->comm_lock);

	if (status == VMWB_OK) {
		bext_balloon_migrate_insert(info, newpage, page, false);
		bext_balloon_migrate_release(info, page);
		atomic64_inc(&b->stats.ext[VMWB_XSTAT_MIGRATED]);
		ret = MIGRATEPAGE_SUCCESS;
	} else {
		if (status != VMWB_ERR_PPN_NOTNEEDED && status != VMWB_ERR_RESET)
			pr_warn_ratelimited("migration: host refused the new pfn %#lx: %s; the balloon shrinks by a page\n",
					    page_to_pfn(newpage),
					    vmwb_status_name(status, buf, sizeof(buf)));
		atomic_long_dec(&b->n_pages[VMWB_4K]);
		atomic64_dec(&b->size);
		atomic64_inc(&b->stats.ext[VMWB_XSTAT_MIGRATE_DROPPED]);
		ret = bext_balloon_migrate_drop(info, page);
	}
	up_read(&b->conf_sem);
	if (ret != MIGRATEPAGE_SUCCESS)
		vmwb_report(b, BALLOON_CORE_MIGRATION);
	return ret;
}
