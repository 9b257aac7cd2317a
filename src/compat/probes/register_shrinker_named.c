// SPDX-License-Identifier: GPL-2.0
/*
 * Probe: register_shrinker() takes a name.
 * Change: 6.0 added a printf-style name to register_shrinker().
 */
#include <linux/mm.h>	/* shrinker.h is not self-contained on 6.1 */

int bext_probe_register_shrinker_named(struct shrinker *s);
int bext_probe_register_shrinker_named(struct shrinker *s)
{
	return register_shrinker(s, "%s", "probe");
}
