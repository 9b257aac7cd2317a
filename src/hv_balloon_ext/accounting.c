// SPDX-License-Identifier: GPL-2.0
/*
 * What balloon_core shows: one source, "hv_balloon_ext". Ballooned pages
 * leave the managed page count on every kernel, so all of them are
 * InflatedTotal and none InflatedFree.
 */
#include <linux/err.h>
#include <linux/mm.h>
#include <linux/printk.h>

#include "hvb.h"

static DEFINE_SPINLOCK(hvb_report_lock);

long hvb_inflated_kb(struct hvb *b)
{
	return (long)READ_ONCE(b->nr_ballooned) << (PAGE_SHIFT - 10);
}

int hvb_source_register(struct hvb *b)
{
	b->source = balloon_core_register(KBUILD_MODNAME);
	if (IS_ERR(b->source)) {
		pr_err("cannot register with balloon_core (error %ld)\n", PTR_ERR(b->source));
		return PTR_ERR(b->source);
	}
	return 0;
}

void hvb_source_unregister(struct hvb *b)
{
	balloon_core_unregister(b->source);
	b->source = NULL;
}

/* Read the size under the lock, so a later report carries a later size. */
void hvb_report(struct hvb *b, enum balloon_core_reason why)
{
	unsigned long flags;

	if (!b->source)
		return;
	spin_lock_irqsave(&hvb_report_lock, flags);
	balloon_core_report(b->source, hvb_inflated_kb(b), 0, why);
	spin_unlock_irqrestore(&hvb_report_lock, flags);
}

/*
 * What the host wants held, in pages: the protocol sends changes, not
 * targets, so this is what we held plus (or minus) the request.
 */
void hvb_set_target(struct hvb *b, unsigned long pages)
{
	if (b->source)
		balloon_core_set_target(b->source, (long)pages << (PAGE_SHIFT - 10));
}
