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

#if defined(BEXT_BALLOON_MIGRATION) && !defined(BEXT_HAVE_BALLOON_MOPS) && \
	!defined(BEXT_HAVE_BALLOON_ADJUST_MANAGED_PAGE_COUNT)
#define BEXT_BALLOON_INODE 1
#endif

#ifndef MIGRATEPAGE_SUCCESS
#define MIGRATEPAGE_SUCCESS 0
#endif

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

/* Put freshly allocated pages into the balloon; empties @pages. */
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
	balloon_page_list_enqueue(info, pages);
}

/* Take up to @n pages out of the balloon onto @pages; returns how many. */
static inline size_t bext_balloon_dequeue_list(struct balloon_dev_info *info,
					       struct list_head *pages,
					       size_t n, bool adjust_managed)
{
	size_t got = balloon_page_list_dequeue(info, pages, n);
#ifndef BEXT_HAVE_BALLOON_ADJUST_MANAGED_PAGE_COUNT
	struct page *page;

	if (adjust_managed)
		list_for_each_entry(page, pages, lru)
			adjust_managed_page_count(page, 1);
#endif
	return got;
}

/*
 * Migration, step one: @newpage takes the place of the isolated @page in
 * the balloon. Called with the driver's lock held, before telling the host.
 * From 7.0 the core does both steps itself, after the driver returns.
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
#ifdef BEXT_HAVE_BALLOON_PAGE_FINALIZE
	balloon_page_finalize(page);
#else
	balloon_page_delete(page);
#endif
	spin_unlock_irqrestore(&info->pages_lock, flags);
	put_page(page);		/* the balloon's reference */
#endif
}

#endif /* BALLOON_EXT_COMPAT_BALLOON_PAGES_H */
