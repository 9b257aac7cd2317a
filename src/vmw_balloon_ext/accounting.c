// SPDX-License-Identifier: GPL-2.0
/*
 * What balloon_core shows: one source, "vmw_balloon_ext". The VMware
 * balloon never takes pages out of MemTotal, so everything it holds is
 * InflatedFree, 2 MiB pages included.
 */
#include <linux/err.h>
#include <linux/mm.h>
#include <linux/printk.h>

#include "vmwb.h"

long vmwb_inflated_kb(struct vmwb *b)
{
	return (long)atomic64_read(&b->size) << (PAGE_SHIFT - 10);
}

int vmwb_source_register(struct vmwb *b)
{
	b->source = balloon_core_register(KBUILD_MODNAME);
	if (IS_ERR(b->source)) {
		pr_err("cannot register with balloon_core (error %ld)\n", PTR_ERR(b->source));
		return PTR_ERR(b->source);
	}
	return 0;
}

void vmwb_source_unregister(struct vmwb *b)
{
	balloon_core_unregister(b->source);
	b->source = NULL;
}

/*
 * The size is read under report_lock, so that of two reports racing (the
 * work and the OOM notifier) the later one carries the later size.
 */
void vmwb_report(struct vmwb *b, enum balloon_core_reason why)
{
	unsigned long flags;

	if (!b->source)
		return;
	spin_lock_irqsave(&b->report_lock, flags);
	balloon_core_report(b->source, 0, vmwb_inflated_kb(b), why);
	spin_unlock_irqrestore(&b->report_lock, flags);
}
