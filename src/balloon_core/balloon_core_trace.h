/* SPDX-License-Identifier: GPL-2.0 */
/*
 * balloon_core:balloon_core_report, fired on every report: which source,
 * why, and its InflatedTotal and InflatedFree before and after, in kB.
 * The source name is a fixed array rather than __string(), whose
 * __assign_str() changed arguments in 6.10: one form for every kernel.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM balloon_core

#if !defined(BALLOON_CORE_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define BALLOON_CORE_TRACE_H

#include <linux/string.h>
#include <linux/tracepoint.h>

#include "balloon_core.h"

/*
 * Userspace tools (perf, trace-cmd, bpftrace) read the event's format
 * file: enum names there must be numbers, and 5.10 prints an array's
 * size as written, so it is a literal.
 */
TRACE_DEFINE_ENUM(BALLOON_CORE_HOST);
TRACE_DEFINE_ENUM(BALLOON_CORE_OOM);
TRACE_DEFINE_ENUM(BALLOON_CORE_PRESSURE);
TRACE_DEFINE_ENUM(BALLOON_CORE_MIGRATION);
TRACE_DEFINE_ENUM(BALLOON_CORE_RESET);
TRACE_DEFINE_ENUM(BALLOON_CORE_REMOVE);
TRACE_DEFINE_ENUM(BALLOON_CORE_OTHER);

#define BCORE_TRACE_NAME_SIZE	48	/* BALLOON_CORE_NAME_MAX + 1, checked in sources.c */

TRACE_EVENT(balloon_core_report,
	    TP_PROTO(const char *source, enum balloon_core_reason reason,
		     long old_total_kb, long new_total_kb, long old_free_kb, long new_free_kb),
	    TP_ARGS(source, reason, old_total_kb, new_total_kb, old_free_kb, new_free_kb),
	    TP_STRUCT__entry(__array(char, source, BCORE_TRACE_NAME_SIZE)
			     __field(int, reason)
			     __field(long, old_total_kb)
			     __field(long, new_total_kb)
			     __field(long, old_free_kb)
			     __field(long, new_free_kb)),
	    TP_fast_assign(strscpy(__entry->source, source, sizeof(__entry->source));
			   __entry->reason = reason;
			   __entry->old_total_kb = old_total_kb;
			   __entry->new_total_kb = new_total_kb;
			   __entry->old_free_kb = old_free_kb;
			   __entry->new_free_kb = new_free_kb;),
	    TP_printk("source=%s reason=%s total_kb=%ld->%ld free_kb=%ld->%ld",
		      __entry->source,
		      __print_symbolic(__entry->reason,
				       { BALLOON_CORE_HOST, "host" },
				       { BALLOON_CORE_OOM, "oom" },
				       { BALLOON_CORE_PRESSURE, "pressure" },
				       { BALLOON_CORE_MIGRATION, "migration" },
				       { BALLOON_CORE_RESET, "reset" },
				       { BALLOON_CORE_REMOVE, "remove" },
				       { BALLOON_CORE_OTHER, "other" }),
		      __entry->old_total_kb, __entry->new_total_kb,
		      __entry->old_free_kb, __entry->new_free_kb)
);

#endif /* BALLOON_CORE_TRACE_H */

/* Out of tree: define_trace.h finds this file through -I on its folder. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE balloon_core_trace
#include <trace/define_trace.h>
