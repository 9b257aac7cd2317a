// SPDX-License-Identifier: GPL-2.0
/*
 * Probe: struct virtqueue_info exists.
 * Change: 6.11 made virtio_find_vqs() take an array of struct
 * virtqueue_info instead of separate callback and name arrays.
 */
#include <linux/virtio_config.h>

int bext_probe_virtqueue_info(struct virtio_device *vdev, struct virtqueue **vqs);
int bext_probe_virtqueue_info(struct virtio_device *vdev, struct virtqueue **vqs)
{
	struct virtqueue_info info[1] = { { .name = "probe" } };

	return virtio_find_vqs(vdev, 1, vqs, info, NULL);
}
