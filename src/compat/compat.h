/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Force-included into every balloon-ext source file. It turns the probe
 * results in compat-generated.h into the names and calls module code uses,
 * so that module code never asks which kernel it is built for.
 */
#ifndef BALLOON_EXT_COMPAT_H
#define BALLOON_EXT_COMPAT_H

#include "compat-generated.h"

/* The function every show_mem() report goes through. */
#ifdef BEXT_HAVE___SHOW_MEM
#define BEXT_SHOW_MEM_SYMBOL "__show_mem"
#else
#define BEXT_SHOW_MEM_SYMBOL "show_mem"
#endif

/* Newer kernel APIs, in the shape module code uses, on every kernel. */
#include "vmstat.h"	/* before balloon_pages.h, which counts pages with it */
#include "balloon_pages.h"
#include "hotplug.h"
#include "page_reporting.h"
#include "readdir.h"
#include "shrinker.h"
#include "virtio.h"

#endif /* BALLOON_EXT_COMPAT_H */
