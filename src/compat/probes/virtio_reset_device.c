// SPDX-License-Identifier: GPL-2.0
/*
 * Probe: virtio_reset_device() exists.
 * Change: 5.17 added virtio_reset_device(); before, drivers called
 * vdev->config->reset() directly.
 */
#include <linux/virtio.h>

void bext_probe_virtio_reset_device(struct virtio_device *vdev);
void bext_probe_virtio_reset_device(struct virtio_device *vdev)
{
	virtio_reset_device(vdev);
}
