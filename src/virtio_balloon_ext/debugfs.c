// SPDX-License-Identifier: GPL-2.0
/*
 * /sys/kernel/debug/virtio-balloon: the two lines of the balloon
 * documentation first, then the host's target, what the balloon holds,
 * the negotiated features and what the driver did. Mode 0444 and
 * read-only, so it opens under lockdown. A second device, should there be
 * one, gets virtio-balloon-<device>.
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>
#include <linux/virtio_config.h>

#include "vbe.h"

static struct vbe *debugfs_owner;	/* holds the documented name */
static DEFINE_MUTEX(debugfs_owner_lock);

static const char * const vbe_feature_names[] = {
	[VIRTIO_BALLOON_F_MUST_TELL_HOST] = "must_tell_host",
	[VIRTIO_BALLOON_F_STATS_VQ] = "stats_vq",
	[VIRTIO_BALLOON_F_DEFLATE_ON_OOM] = "deflate_on_oom",
	[VIRTIO_BALLOON_F_FREE_PAGE_HINT] = "free_page_hint",
	[VIRTIO_BALLOON_F_PAGE_POISON] = "page_poison",
	[VIRTIO_BALLOON_F_REPORTING] = "reporting",
};

static void vbe_show_count(struct seq_file *m, const char *name, atomic_long_t *v)
{
	seq_printf(m, "%s: %ld\n", name, atomic_long_read(v));
}

static int vbe_show(struct seq_file *m, void *v)
{
	struct vbe *vb = m->private;
	long kb = vbe_inflated_kb(vb);
	u32 target, poison;
	unsigned int f;

	seq_printf(m, "InflatedTotal: %ld kB\n", vb->deflate_on_oom ? 0 : kb);
	seq_printf(m, "InflatedFree: %ld kB\n", vb->deflate_on_oom ? kb : 0);

	virtio_cread_le(vb->vdev, struct virtio_balloon_config, num_pages, &target);
	seq_printf(m, "target_kb: %lu\n",
		   (unsigned long)target << (VIRTIO_BALLOON_PFN_SHIFT - 10));
	seq_printf(m, "actual_kb: %ld\n", kb);
	seq_puts(m, "features:");
	for (f = 0; f < ARRAY_SIZE(vbe_feature_names); f++)
		if (vbe_has(vb, f))
			seq_printf(m, " %s", vbe_feature_names[f]);
	seq_putc(m, '\n');
	/* Read back from the device: what the host holds, not what we wrote. */
	if (vbe_has(vb, VIRTIO_BALLOON_F_PAGE_POISON)) {
		virtio_cread_le(vb->vdev, struct virtio_balloon_config, poison_val, &poison);
		seq_printf(m, "poison_val: %#010x\n", poison);
	}

	vbe_show_count(m, "inflated_pages", &vb->count.inflated);
	vbe_show_count(m, "deflated_pages", &vb->count.deflated);
	vbe_show_count(m, "oom_deflated_pages", &vb->count.oom_deflated);
	vbe_show_count(m, "oom_calls", &vb->count.oom_calls);
	vbe_show_count(m, "oom_largest_pages", &vb->count.oom_largest);
	seq_printf(m, "auto_deflate: %s\n", vb->auto_shrinker ? "on" : "off");
	vbe_show_count(m, "auto_deflated_pages", &vb->count.auto_deflated);
	vbe_show_count(m, "auto_deflate_calls", &vb->count.auto_calls);
	vbe_show_count(m, "inflate_pauses", &vb->count.inflate_pauses);
	vbe_show_count(m, "paused_rounds", &vb->count.paused_rounds);
	vbe_show_count(m, "pressure_cycles", &vb->count.pressure_cycles);
	seq_printf(m, "inflate_paused_ms: %u\n", jiffies_to_msecs(vbe_inflation_paused(vb)));
	seq_printf(m, "pause_length_ms: %u\n", jiffies_to_msecs(READ_ONCE(vb->pause)));
	vbe_show_count(m, "queue_errors", &vb->count.queue_errors);
	vbe_show_count(m, "migrated_pages", &vb->count.migrated);
	vbe_show_count(m, "alloc_failures", &vb->count.alloc_failures);
	vbe_show_count(m, "hinted_blocks", &vb->count.hinted_blocks);
	seq_printf(m, "hint_blocks_held: %lu\n", READ_ONCE(vb->num_hint_blocks));
	vbe_show_count(m, "reported_pages", &vb->count.reported);
	seq_printf(m, "stats_tags_sent: %u\n", READ_ONCE(vb->stats_sent));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(vbe);

/* debugfs errors are not fatal: the balloon works without its file. */
void vbe_debugfs_add(struct vbe *vb)
{
	char name[64];

	mutex_lock(&debugfs_owner_lock);
	if (!debugfs_owner) {
		debugfs_owner = vb;
		strscpy(name, "virtio-balloon", sizeof(name));
	} else {
		snprintf(name, sizeof(name), "virtio-balloon-%s", dev_name(&vb->vdev->dev));
	}
	mutex_unlock(&debugfs_owner_lock);
	vb->debugfs = debugfs_create_file(name, 0444, NULL, vb, &vbe_fops);
	vbe_fault_add(vb, name);
}

void vbe_debugfs_remove(struct vbe *vb)
{
	vbe_fault_remove(vb);
	debugfs_remove(vb->debugfs);
	mutex_lock(&debugfs_owner_lock);
	if (debugfs_owner == vb)
		debugfs_owner = NULL;
	mutex_unlock(&debugfs_owner_lock);
}
