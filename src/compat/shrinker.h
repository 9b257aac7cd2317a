/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shrinkers as one create/destroy pair with a private pointer:
 * register_shrinker(s) up to 5.19, register_shrinker(s, name) from 6.0,
 * shrinker_alloc() and shrinker_register() from 6.7.
 */
#ifndef BALLOON_EXT_COMPAT_SHRINKER_H
#define BALLOON_EXT_COMPAT_SHRINKER_H

#include <linux/err.h>
#include <linux/mm.h>	/* includes shrinker.h, which is not self-contained */
#include <linux/slab.h>

typedef unsigned long (*bext_shrink_fn)(struct shrinker *s,
					struct shrink_control *sc);

#ifdef BEXT_HAVE_SHRINKER_ALLOC

static inline struct shrinker *bext_shrinker_create(bext_shrink_fn count,
						    bext_shrink_fn scan,
						    void *priv,
						    const char *name)
{
	struct shrinker *s = shrinker_alloc(0, "%s", name);

	if (!s)
		return ERR_PTR(-ENOMEM);
	s->count_objects = count;
	s->scan_objects = scan;
	s->private_data = priv;
	shrinker_register(s);
	return s;
}

static inline void bext_shrinker_destroy(struct shrinker *s)
{
	shrinker_free(s);
}

static inline void *bext_shrinker_priv(struct shrinker *s)
{
	return s->private_data;
}

#else /* !BEXT_HAVE_SHRINKER_ALLOC */

struct bext_shrinker {
	struct shrinker shrinker;
	void *priv;
};

static inline struct shrinker *bext_shrinker_create(bext_shrink_fn count,
						    bext_shrink_fn scan,
						    void *priv,
						    const char *name)
{
	struct bext_shrinker *bs = kzalloc(sizeof(*bs), GFP_KERNEL);
	int err;

	if (!bs)
		return ERR_PTR(-ENOMEM);
	bs->shrinker.count_objects = count;
	bs->shrinker.scan_objects = scan;
	bs->shrinker.seeks = DEFAULT_SEEKS;
	bs->priv = priv;
#ifdef BEXT_HAVE_REGISTER_SHRINKER_NAMED
	err = register_shrinker(&bs->shrinker, "%s", name);
#else
	err = register_shrinker(&bs->shrinker);
#endif
	if (err) {
		kfree(bs);
		return ERR_PTR(err);
	}
	return &bs->shrinker;
}

static inline void bext_shrinker_destroy(struct shrinker *s)
{
	unregister_shrinker(s);
	kfree(container_of(s, struct bext_shrinker, shrinker));
}

static inline void *bext_shrinker_priv(struct shrinker *s)
{
	return container_of(s, struct bext_shrinker, shrinker)->priv;
}

#endif /* BEXT_HAVE_SHRINKER_ALLOC */

#endif /* BALLOON_EXT_COMPAT_SHRINKER_H */
