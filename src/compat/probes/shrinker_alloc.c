// SPDX-License-Identifier: GPL-2.0
/*
 * Probe: shrinker_alloc() exists.
 * Change: 6.7 made shrinkers dynamically allocated (shrinker_alloc,
 * shrinker_register, shrinker_free) and removed register_shrinker().
 */
#include <linux/mm.h>	/* shrinker.h is not self-contained on 6.1 */

struct shrinker *bext_probe_shrinker_alloc(void);
struct shrinker *bext_probe_shrinker_alloc(void)
{
	return shrinker_alloc(0, "%s", "probe");
}
