// SPDX-License-Identifier: GPL-2.0
/*
 * Before 6.0, balloon pages were movable through an address_space: each
 * balloon needs an inode whose mapping uses the kernel's balloon_aops, and
 * the inode needs a superblock, so the driver mounts a tiny pseudo
 * filesystem of its own. From 6.0 balloon_mops made all of this go away;
 * on those kernels this file compiles to nothing.
 */
#include <linux/fs.h>
#include <linux/mount.h>
#include <linux/pseudo_fs.h>

#ifdef BEXT_BALLOON_INODE

/* "BEXT" in ASCII: only needs to differ from other pseudo filesystems'. */
#define BEXT_BALLOON_FS_MAGIC	0x42455854

static int bext_balloon_init_fs_context(struct fs_context *fc)
{
	return init_pseudo(fc, BEXT_BALLOON_FS_MAGIC) ? 0 : -ENOMEM;
}

static struct file_system_type bext_balloon_fs = {
	.name = "balloon-ext",
	.init_fs_context = bext_balloon_init_fs_context,
	.kill_sb = kill_anon_super,
};

int bext_balloon_inode_attach(struct bext_balloon *b)
{
	struct inode *inode;

	b->mnt = kern_mount(&bext_balloon_fs);
	if (IS_ERR(b->mnt))
		return PTR_ERR(b->mnt);
	inode = alloc_anon_inode(b->mnt->mnt_sb);
	if (IS_ERR(inode)) {
		kern_unmount(b->mnt);
		return PTR_ERR(inode);
	}
	inode->i_mapping->a_ops = &balloon_aops;
	b->info.inode = inode;
	return 0;
}

void bext_balloon_inode_detach(struct bext_balloon *b)
{
	iput(b->info.inode);
	b->info.inode = NULL;
	kern_unmount(b->mnt);
}

#endif /* BEXT_BALLOON_INODE */
