// SPDX-License-Identifier: GPL-2.0
/*
 * balloon_core: shows the inflated amounts balloon drivers report
 * (sources.c) wherever an admin looks for memory.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/seq_file.h>
#include <linux/string.h>

#include "balloon_core.h"
#include "internal.h"

static bool meminfo_hook = true;
module_param(meminfo_hook, bool, 0444);
MODULE_PARM_DESC(meminfo_hook, "Show the balloon lines in /proc/meminfo (default: on)");

static bool meminfo_at_end;
module_param(meminfo_at_end, bool, 0444);
MODULE_PARM_DESC(meminfo_at_end,
		 "Print the /proc/meminfo lines last, not before the HugePages lines (default: off)");

static bool show_mem_hook = true;
module_param(show_mem_hook, bool, 0444);
MODULE_PARM_DESC(show_mem_hook, "Print the balloon line in every show_mem() report: OOM, SysRq-m, panic (default: on)");

/*
 * For kernels whose distribution renamed or split the function. Any function
 * is safe to name: the hook only prints as it returns.
 */
static char *show_mem_symbol = BEXT_SHOW_MEM_SYMBOL;
module_param(show_mem_symbol, charp, 0444);
MODULE_PARM_DESC(show_mem_symbol,
		 "Function the show_mem() hook attaches to (default: " BEXT_SHOW_MEM_SYMBOL ")");

/* Room for a label, 20 digits and " kB\n". */
#define BCORE_LINE_MAX	48

/*
 * One line as "<label>%8ld kB\n" would print it, without vsnprintf: the
 * hook runs on every /proc/meminfo read. @kb is never negative: reports
 * of negative values are refused (sources.c).
 */
static size_t bcore_format_line(char *buf, const char *label, long kb)
{
	unsigned long v = kb;
	size_t len = strlen(label), n = 0;
	char digits[20];

	memcpy(buf, label, len);
	do {
		digits[n++] = '0' + v % 10;
		v /= 10;
	} while (v);
	while (n < 8)
		digits[n++] = ' ';	/* the padding comes out first */
	while (n)
		buf[len++] = digits[--n];
	memcpy(buf + len, " kB\n", 4);
	return len + 4;
}

/* The format of the never-merged meminfo series, so tools can share parsers. */
void bcore_show_values(struct seq_file *m)
{
	char buf[2 * BCORE_LINE_MAX];
	size_t len;

	len = bcore_format_line(buf, "InflatedTotal:  ", balloon_get_inflated_total());
	len += bcore_format_line(buf + len, "InflatedFree:   ", balloon_get_inflated_free());
	seq_write(m, buf, len);
}

static int __init balloon_core_init(void)
{
	int err;

	err = bcore_sysfs_init();
	if (err)
		return err;
	err = bcore_sources_init();
	if (err) {
		bcore_sysfs_exit();
		return err;
	}
	bcore_debugfs_init();
	if (meminfo_at_end)
		bcore_meminfo_hook.kp.symbol_name = NULL;
	bcore_hook_attach(&bcore_meminfo_hook, meminfo_hook);
	bcore_show_mem_hook.krp.kp.symbol_name = show_mem_symbol;
	bcore_hook_attach(&bcore_show_mem_hook, show_mem_hook);
	return 0;
}

static void __exit balloon_core_exit(void)
{
	/* Hooks first: once they are gone nothing reads the values. */
	bcore_hook_detach(&bcore_show_mem_hook);
	bcore_hook_detach(&bcore_meminfo_hook);
	bcore_debugfs_exit();
	bcore_sources_exit();
	bcore_sysfs_exit();
}

module_init(balloon_core_init);
module_exit(balloon_core_exit);

MODULE_DESCRIPTION("Show memory taken by balloon drivers in meminfo, sysfs, debugfs and show_mem()");
MODULE_LICENSE("GPL");
MODULE_VERSION(BALLOON_EXT_VERSION);
