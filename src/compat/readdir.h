/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Directory actors (filldir_t) returned int, 0 to go on, until 6.1, and
 * bool, true to go on, since. The kernel's own typedef says which, so
 * no probe can get it wrong: an actor declared with BEXT_FILLDIR_RET
 * always matches, and BEXT_FILLDIR_CONTINUE is the value that goes on.
 */
#ifndef BALLOON_EXT_COMPAT_READDIR_H
#define BALLOON_EXT_COMPAT_READDIR_H

#include <linux/fs.h>
#include <linux/types.h>

#define BEXT_FILLDIR_RET	typeof(((filldir_t)NULL)(NULL, NULL, 0, 0, 0, 0))
#define BEXT_FILLDIR_IS_BOOL	__builtin_types_compatible_p(BEXT_FILLDIR_RET, bool)
#define BEXT_FILLDIR_CONTINUE	((BEXT_FILLDIR_RET)BEXT_FILLDIR_IS_BOOL)

#endif /* BALLOON_EXT_COMPAT_READDIR_H */
