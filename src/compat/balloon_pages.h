/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Balloon page lists across the generations of the kernel's balloon
 * infrastructure, behind one set of bext_balloon_*() calls:
 *  - up to 5.19 pages are movable through an inode the driver provides, on
 *    a pseudo filesystem of its own, whose mapping uses balloon_aops
 *    (balloon_inode.c);
 *  - up to 6.19 the driver adjusts managed pages itself and, when a page
 *    migrates, moves it between the balloon lists itself;
 *  - from 7.0 (<linux/balloon.h>) the core does both, and the driver only
 *    sets balloon_dev_info.adjust_managed_page_count and tells its host.
 * On 6.15 and later the core also keeps NR_BALLOON_PAGES as pages enqueue
 * and dequeue, so going through these calls keeps that counter right.
 */
#ifndef BALLOON_EXT_COMPAT_BALLOON_PAGES_H
#define BALLOON_EXT_COMPAT_BALLOON_PAGES_H

#include <linux/mm.h>
#include <linux/vmstat.h>
#ifdef BEXT_HAVE_LINUX_BALLOON_H
#include <linux/balloon.h>
#else
#include <linux/balloon_compaction.h>
#endif

/* 7.0 renamed CONFIG_BALLOON_COMPACTION to CONFIG_BALLOON_MIGRATION. */
#if defined(CONFIG_BALLOON_COMPACTION) || defined(CONFIG_BALLOON_MIGRATION)
#define BEXT_BALLOON_MIGRATION 1
#endif

/*
 * Balloon pages may come from ZONE_MOVABLE and CMA only where they can be
 * migrated out of them; otherwise they would block memory offlining and
 * CMA allocations.
 */
#ifdef BEXT_BALLOON_MIGRATION
#define BEXT_BALLOON_GFP	GFP_HIGHUSER_MOVABLE
#else
#define BEXT_BALLOON_GFP	GFP_HIGHUSER
#endif

#if defined(BEXT_BALLOON_MIGRATION) && !defined(BEXT_HAVE_BALLOON_MOPS) && \
	!defined(BEXT_HAVE_BALLOON_ADJUST_MANAGED_PAGE_COUNT)
#define BEXT_BALLOON_INODE 1
#endif

#ifndef MIGRATEPAGE_SUCCESS
#define MIGRATEPAGE_SUCCESS 0
#endif

/*
 * Mark a page the balloon holds outside the kernel's balloon list (a
 * part of a 2 MiB page) offline, as balloon pages are, so that dump tools
 * skip it; and online again before it is freed.
 */
static inline void bext_page_set_offline(struct page *page, bool offline)
{
	if (offline)
		__SetPageOffline(page);
	else
		__ClearPageOffline(page);
}

/* A driver's balloon: the kernel's descriptor, and what compat adds to it. */
struct bext_balloon {
	struct balloon_dev_info info;
#ifdef BEXT_BALLOON_INODE
	struct vfsmount *mnt;	/* holds info.inode */
#endif
};

typedef int (*bext_migratepage_t)(struct balloon_dev_info *info,
				  struct page *newpage, struct page *page,
				  enum migrate_mode mode);

#ifdef BEXT_BALLOON_INODE
int bext_balloon_inode_attach(struct bext_balloon *b);
void bext_balloon_inode_detach(struct bext_balloon *b);
#else
static inline int bext_balloon_inode_attach(struct bext_balloon *b)
{
	return 0;
}

static inline void bext_balloon_inode_detach(struct bext_balloon *b)
{
}
#endif

/* Set up an empty balloon; bext_balloon_exit() once it is empty again. */
static inline int bext_balloon_init(struct bext_balloon *b,
				    bext_migratepage_t migratepage,
				    bool adjust_managed)
{
	balloon_devinfo_init(&b->info);
#ifdef BEXT_BALLOON_MIGRATION
	b->info.migratepage = migratepage;
#endif
#ifdef BEXT_HAVE_BALLOON_ADJUST_MANAGED_PAGE_COUNT
	b->info.adjust_managed_page_count = adjust_managed;
#endif
	return bext_balloon_inode_attach(b);
}

static inline void bext_balloon_exit(struct bext_balloon *b)
{
	bext_balloon_inode_detach(b);
}

/*
 * The kernel's list calls hold pages_lock with interrupts off for the
 * whole list: hand them a few pages at a time.
 */
#define BEXT_BALLOON_LIST_CHUNK	64

static inline void bext_balloon_enqueue_chunks(struct balloon_dev_info *info,
					       struct list_head *pages)
{
	struct page *page, *next;
	unsigned int n = 0;
	LIST_HEAD(chunk);

	list_for_each_entry_safe(page, next, pages, lru) {
		list_move_tail(&page->lru, &chunk);
		if (++n == BEXT_BALLOON_LIST_CHUNK || list_empty(pages)) {
			balloon_page_list_enqueue(info, &chunk);
			n = 0;
		}
	}
}

/* Put pages the host has just taken into the balloon; empties @pages. */
static inline void bext_balloon_enqueue_list(struct balloon_dev_info *info,
					     struct list_head *pages,
					     bool adjust_managed)
{
#ifndef BEXT_HAVE_BALLOON_ADJUST_MANAGED_PAGE_COUNT
	struct page *page;

	if (adjust_managed)
		list_for_each_entry(page, pages, lru)
			adjust_managed_page_count(page, -1);
#endif
	bext_balloon_enqueue_chunks(info, pages);
}

/*
 * Take up to @n pages out of the balloon onto @pages, to deflate; returns
 * how many. Up to 6.19 they stay out of the managed count until released
 * (bext_balloon_release_page()), once the host knows; from 7.0 the core
 * counts them back here.
 */
static inline size_t bext_balloon_dequeue_list(struct balloon_dev_info *info,
					       struct list_head *pages, size_t n)
{
	size_t got = 0, step;

	while (got < n) {
		step = balloon_page_list_dequeue(info, pages,
						 min_t(size_t, n - got,
						       BEXT_BALLOON_LIST_CHUNK));
		if (!step)
			break;
		got += step;
	}
	return got;
}

/* Dequeued pages that were not deflated after all go back; empties @pages. */
static inline void bext_balloon_requeue_list(struct balloon_dev_info *info,
					     struct list_head *pages)
{
	bext_balloon_enqueue_chunks(info, pages);
}

/* A dequeued page the host knows is gone goes back to the allocator. */
static inline void bext_balloon_release_page(struct page *page, bool adjust_managed)
{
#ifndef BEXT_HAVE_BALLOON_ADJUST_MANAGED_PAGE_COUNT
	if (adjust_managed)
		adjust_managed_page_count(page, 1);
#endif
	put_page(page);		/* the balloon's reference */
}

/*
 * Migration, step one: @newpage takes the place of the isolated @page in
 * the balloon. Called once the host knows of both pages, so the new page
 * is never deflated before the host has it. From 7.0 the core does both
 * steps itself, after the driver returns.
 */
static inline void bext_balloon_migrate_insert(struct balloon_dev_info *info,
					       struct page *newpage,
					       struct page *page,
					       bool adjust_managed)
{
#if defined(BEXT_BALLOON_MIGRATION) && !defined(BEXT_HAVE_BALLOON_ADJUST_MANAGED_PAGE_COUNT)
	unsigned long flags;

	get_page(newpage);	/* the balloon's reference */
	if (adjust_managed && page_zone(page) != page_zone(newpage)) {
		adjust_managed_page_count(page, 1);
		adjust_managed_page_count(newpage, -1);
	}
	spin_lock_irqsave(&info->pages_lock, flags);
	balloon_page_insert(info, newpage);
	info->isolated_pages--;
	__count_vm_event(BALLOON_MIGRATE);
	spin_unlock_irqrestore(&info->pages_lock, flags);
#endif
}

#if defined(BEXT_BALLOON_MIGRATION) && !defined(BEXT_HAVE_BALLOON_ADJUST_MANAGED_PAGE_COUNT)
/* An isolated page stops being a balloon page; under pages_lock. */
static inline void bext_balloon_page_finalize(struct page *page)
{
#ifdef BEXT_HAVE_BALLOON_PAGE_FINALIZE
	balloon_page_finalize(page);
#else
	balloon_page_delete(page);
#endif
}
#endif

/*
 * Migration, step two, once the host knows: the isolated @page leaves the
 * balloon for good.
 */
static inline void bext_balloon_migrate_release(struct balloon_dev_info *info,
						struct page *page)
{
#if defined(BEXT_BALLOON_MIGRATION) && !defined(BEXT_HAVE_BALLOON_ADJUST_MANAGED_PAGE_COUNT)
	unsigned long flags;

	spin_lock_irqsave(&info->pages_lock, flags);
	bext_balloon_page_finalize(page);
	spin_unlock_irqrestore(&info->pages_lock, flags);
	put_page(page);		/* the balloon's reference */
#endif
}

/*
 * Migration that ends with the old @page out of the balloon and no new
 * page in it (the host took the old page back but refused the new one).
 * Returns what the driver's migratepage callback returns for that: up to
 * 6.19 the driver takes the page out itself and fails the migration;
 * from 7.0 -ENOENT tells the core to. Neither kernel takes the page out
 * of NR_BALLOON_PAGES on this path (7.0-7.3's -ENOENT branch counts only
 * the deflate event), so this does.
 */
static inline int bext_balloon_migrate_drop(struct balloon_dev_info *info,
					    struct page *page)
{
#if defined(BEXT_BALLOON_MIGRATION) && !defined(BEXT_HAVE_BALLOON_ADJUST_MANAGED_PAGE_COUNT)
	unsigned long flags;
#endif

	bext_count_balloon_pages(page, -1);
#ifdef BEXT_HAVE_BALLOON_ADJUST_MANAGED_PAGE_COUNT
	return -ENOENT;
#else
#ifdef BEXT_BALLOON_MIGRATION
	spin_lock_irqsave(&info->pages_lock, flags);
	bext_balloon_page_finalize(page);
	info->isolated_pages--;
	__count_vm_event(BALLOON_DEFLATE);
	spin_unlock_irqrestore(&info->pages_lock, flags);
	put_page(page);		/* the balloon's reference */
#endif
	return -EBUSY;
#endif
}

#endif /* BALLOON_EXT_COMPAT_BALLOON_PAGES_H */
