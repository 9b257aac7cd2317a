// SPDX-License-Identifier: GPL-2.0
/*
 * The status report, every second once pressure_report_delay reports
 * have been skipped (the parameter counts down in place, as in-tree),
 * and at most one a second however many callers ask. The floor, the
 * memory the host must not take, is in-tree's.
 */
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/mman.h>

#include "hvb.h"

#define HVB_MB2PAGES(mb)	((unsigned long)(mb) << (20 - PAGE_SHIFT))

/**
 * hvb_floor() - the pages the host must leave the guest
 *
 * Return: a piecewise linear function of totalram_pages(), in pages.
 */
unsigned long hvb_floor(void)
{
	unsigned long t = totalram_pages();

	if (t < HVB_MB2PAGES(128))
		return HVB_MB2PAGES(8) + (t >> 1);
	if (t < HVB_MB2PAGES(512))
		return HVB_MB2PAGES(40) + (t >> 2);
	if (t < HVB_MB2PAGES(2048))
		return HVB_MB2PAGES(104) + (t >> 3);
	if (t < HVB_MB2PAGES(8192))
		return HVB_MB2PAGES(232) + (t >> 4);
	return HVB_MB2PAGES(488) + (t >> 5);
}

/* What the status report calls committed, as in-tree. */
unsigned long hvb_committed(struct hvb *b)
{
	unsigned long added, onlined;

	hvb_hotadd_counts(&added, &onlined);
	return vm_memory_committed() + READ_ONCE(b->nr_ballooned) +
	       (added > onlined ? added - onlined : 0) + hvb_floor();
}

/**
 * hvb_post_status() - send a status report if one is due
 * @b: the device
 *
 * Safe from any process context; two callers racing send one report.
 */
void hvb_post_status(struct hvb *b)
{
	unsigned long last = READ_ONCE(b->last_post);
	struct hvb_status s;
	uint delay;

	if (!READ_ONCE(b->connected))
		return;
	delay = READ_ONCE(hvb_pressure_report_delay);
	if (delay > 0) {
		WRITE_ONCE(hvb_pressure_report_delay, delay - 1);
		return;
	}
	if (!time_after(jiffies, last + HZ))
		return;
	if (cmpxchg(&b->last_post, last, jiffies) != last)
		return;

	memset(&s, 0, sizeof(s));
	hvb_hdr_init(&s.hdr, HVB_MSG_STATUS_REPORT, sizeof(s));
	/* On x86 a guest page is a Hyper-V page: no conversion. */
	s.num_avail = si_mem_available();
	s.num_committed = hvb_committed(b);
	/* A lost report is replaced by the next one. */
	hvb_send(b, &s);
}

void hvb_status_work(struct work_struct *work)
{
	struct hvb *b = container_of(work, struct hvb, status_work.work);

	hvb_post_status(b);
	if (READ_ONCE(b->connected))
		schedule_delayed_work(&b->status_work, HZ);
}
