// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only module: drives the balloon_core API from inside a guest.
 *
 *   /sys/module/balloon_core_test/parameters/total   write: set InflatedTotal
 *   /sys/module/balloon_core_test/parameters/free    write: set InflatedFree
 *   /sys/module/balloon_core_test/parameters/stress  write "THREADS": race
 *   /sys/module/balloon_core_test/parameters/nested_sysrq  write a key: run
 *	SysRq with that key from inside a kprobe handler of this module, where
 *	the kprobes core must count any probe it hits as missed
 *
 * Reads return what the getters say. A stress write fails with -EIO if any
 * reader saw a value no writer wrote, or the final values are not the last
 * value of some writer.
 */
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/kprobes.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/sysrq.h>

#include "balloon_core.h"

/* Value j of writer i is i * SPAN + j; j runs from 1 to ITERATIONS. */
#define STRESS_ITERATIONS	20000
#define STRESS_SPAN		100000
#define STRESS_MAX_THREADS	64

static int param_set_long_via(const char *val, void (*set)(long))
{
	long kb;
	int err;

	err = kstrtol(val, 0, &kb);
	if (err)
		return err;
	set(kb);
	return 0;
}

static int total_set(const char *val, const struct kernel_param *kp)
{
	return param_set_long_via(val, balloon_set_inflated_total);
}

static int total_get(char *buf, const struct kernel_param *kp)
{
	return scnprintf(buf, PAGE_SIZE, "%ld\n", balloon_get_inflated_total());
}

static int free_set(const char *val, const struct kernel_param *kp)
{
	return param_set_long_via(val, balloon_set_inflated_free);
}

static int free_get(char *buf, const struct kernel_param *kp)
{
	return scnprintf(buf, PAGE_SIZE, "%ld\n", balloon_get_inflated_free());
}

static const struct kernel_param_ops total_ops = {
	.set = total_set,
	.get = total_get,
};

static const struct kernel_param_ops free_ops = {
	.set = free_set,
	.get = free_get,
};

module_param_cb(total, &total_ops, NULL, 0644);
MODULE_PARM_DESC(total, "InflatedTotal in kB: write to set");
module_param_cb(free, &free_ops, NULL, 0644);
MODULE_PARM_DESC(free, "InflatedFree in kB: write to set");

struct stress_run {
	int threads;
	atomic_t writers_left;
	atomic_long_t bad_reads;
	atomic_long_t last_bad;
	struct completion done;
	spinlock_t lock;	/* writers hold it to call from atomic context */
};

static bool stress_value_valid(const struct stress_run *run, long v)
{
	long writer = v / STRESS_SPAN, j = v % STRESS_SPAN;

	return v == 0 || (writer < run->threads && j >= 1 &&
			  j <= STRESS_ITERATIONS);
}

static void stress_check(struct stress_run *run, long v)
{
	if (!stress_value_valid(run, v)) {
		atomic_long_inc(&run->bad_reads);
		atomic_long_set(&run->last_bad, v);
	}
}

struct stress_writer {
	struct stress_run *run;
	int id;
};

static int stress_writer_fn(void *data)
{
	struct stress_writer *w = data;
	struct stress_run *run = w->run;
	unsigned long flags;
	long j, v;

	for (j = 1; j <= STRESS_ITERATIONS; j++) {
		v = (long)w->id * STRESS_SPAN + j;
		/* Odd writers call under a spinlock with interrupts off. */
		if (w->id & 1) {
			spin_lock_irqsave(&run->lock, flags);
			balloon_set_inflated_total(v);
			balloon_set_inflated_free(v);
			spin_unlock_irqrestore(&run->lock, flags);
		} else {
			balloon_set_inflated_total(v);
			balloon_set_inflated_free(v);
		}
		/* A negative value must never land, whatever the race. */
		if (!(j % 1000))
			balloon_set_inflated_total(-v);
		stress_check(run, balloon_get_inflated_total());
		stress_check(run, balloon_get_inflated_free());
		if (!(j % 256))
			cond_resched();
	}
	if (atomic_dec_and_test(&run->writers_left))
		complete(&run->done);
	return 0;
}

static bool stress_final_valid(const struct stress_run *run, long v)
{
	return v % STRESS_SPAN == STRESS_ITERATIONS &&
	       v / STRESS_SPAN < run->threads;
}

static int stress_set(const char *val, const struct kernel_param *kp)
{
	struct stress_writer *writers;
	struct stress_run run;
	struct task_struct *t;
	long total, free;
	int threads, i, err;

	err = kstrtoint(val, 0, &threads);
	if (err)
		return err;
	if (threads < 1 || threads > STRESS_MAX_THREADS)
		return -EINVAL;

	writers = kcalloc(threads, sizeof(*writers), GFP_KERNEL);
	if (!writers)
		return -ENOMEM;

	run.threads = threads;
	atomic_set(&run.writers_left, threads);
	atomic_long_set(&run.bad_reads, 0);
	atomic_long_set(&run.last_bad, 0);
	init_completion(&run.done);
	spin_lock_init(&run.lock);

	for (i = 0; i < threads; i++) {
		writers[i].run = &run;
		writers[i].id = i;
		t = kthread_run(stress_writer_fn, &writers[i], "bcore_stress/%d", i);
		if (IS_ERR(t)) {
			/* Writers already started still finish; count this one done. */
			pr_err("stress: cannot start writer %d (%ld)\n", i, PTR_ERR(t));
			err = PTR_ERR(t);
			if (atomic_dec_and_test(&run.writers_left))
				complete(&run.done);
		}
	}
	wait_for_completion(&run.done);
	kfree(writers);
	if (err)
		return err;

	total = balloon_get_inflated_total();
	free = balloon_get_inflated_free();
	if (atomic_long_read(&run.bad_reads) ||
	    !stress_final_valid(&run, total) || !stress_final_valid(&run, free)) {
		pr_err("stress: %ld bad reads (last %ld), final total %ld free %ld\n",
		       atomic_long_read(&run.bad_reads),
		       atomic_long_read(&run.last_bad), total, free);
		return -EIO;
	}
	pr_info("stress: %d writers x %d sets, final total %ld free %ld\n",
		threads, STRESS_ITERATIONS, total, free);
	return 0;
}

static const struct kernel_param_ops stress_ops = {
	.set = stress_set,
};

module_param_cb(stress, &stress_ops, NULL, 0200);
MODULE_PARM_DESC(stress, "Write N: race N writer threads against the setters");

static int nested_key;
static unsigned long nested_calls;

/* The probed function; the store keeps the call from being optimized out. */
static noinline void nested_target(void)
{
	WRITE_ONCE(nested_calls, nested_calls + 1);
}

static int nested_pre(struct kprobe *p, struct pt_regs *regs)
{
	/* handle_sysrq() is made for interrupts: fine with preemption off. */
	handle_sysrq(nested_key);
	return 0;
}

/* Parameter writes are serialized (kernel_param_lock), so one probe will do. */
static struct kprobe nested_probe;

static int nested_sysrq_set(const char *val, const struct kernel_param *kp)
{
	size_t len = strlen(val);
	int err;

	if (len && val[len - 1] == '\n')
		len--;
	if (len != 1)
		return -EINVAL;
	nested_key = val[0];
	memset(&nested_probe, 0, sizeof(nested_probe));
	nested_probe.addr = (kprobe_opcode_t *)nested_target;
	nested_probe.pre_handler = nested_pre;
	err = register_kprobe(&nested_probe);
	if (err)
		return err;
	nested_target();
	unregister_kprobe(&nested_probe);
	return 0;
}

static const struct kernel_param_ops nested_sysrq_ops = {
	.set = nested_sysrq_set,
};

module_param_cb(nested_sysrq, &nested_sysrq_ops, NULL, 0200);
MODULE_PARM_DESC(nested_sysrq, "Write a SysRq key: run it from inside a kprobe handler");

MODULE_DESCRIPTION("balloon_core test driver (tests only)");
MODULE_LICENSE("GPL");
