/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Hyper-V hypercall definitions whose shape changed. Not force-included
 * (it needs <asm/mshyperv.h>): hv_balloon_ext's reporting.c includes it.
 */
#ifndef BALLOON_EXT_COMPAT_HYPERV_H
#define BALLOON_EXT_COMPAT_HYPERV_H

#include <asm/mshyperv.h>

/* A memory hint of the cold discard type, the field named either way. */
static inline void bext_hv_hint_cold_discard(struct hv_memory_hint *hint)
{
#ifdef BEXT_HAVE_HV_MEMORY_HINT_HEAT_TYPE
	hint->heat_type = HV_EXT_MEMORY_HEAT_HINT_TYPE_COLD_DISCARD;
#else
	hint->type = HV_EXT_MEMORY_HEAT_HINT_TYPE_COLD_DISCARD;
#endif
	hint->reserved = 0;
}

#endif /* BALLOON_EXT_COMPAT_HYPERV_H */
