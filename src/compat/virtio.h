/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Newer virtio and mm calls, provided on kernels that predate them, so
 * drivers are written against the newest API.
 */
#ifndef BALLOON_EXT_COMPAT_VIRTIO_H
#define BALLOON_EXT_COMPAT_VIRTIO_H

#include <linux/mm.h>
#include <linux/virtio.h>
#include <linux/virtio_config.h>

#ifndef BEXT_HAVE_VIRTIO_RESET_DEVICE
static inline void virtio_reset_device(struct virtio_device *vdev)
{
	vdev->config->reset(vdev);
}
#endif

#ifndef BEXT_HAVE_PAGE_POISONING_ENABLED_STATIC
#define page_poisoning_enabled_static() page_poisoning_enabled()
#endif

/* Up to 6.10, virtio_find_vqs() took separate callback and name arrays. */
#ifndef BEXT_HAVE_VIRTQUEUE_INFO
#define BEXT_MAX_VQS 8

struct virtqueue_info {
	const char *name;
	vq_callback_t *callback;
	bool ctx;
};

static inline int bext_find_vqs(struct virtio_device *vdev, unsigned int nvqs,
				struct virtqueue *vqs[],
				struct virtqueue_info *info)
{
	vq_callback_t *callbacks[BEXT_MAX_VQS];
	const char *names[BEXT_MAX_VQS];
	unsigned int i;

	if (WARN_ON_ONCE(nvqs > BEXT_MAX_VQS))
		return -EINVAL;
	for (i = 0; i < nvqs; i++) {
		callbacks[i] = info[i].callback;
		names[i] = info[i].name;
	}
	return virtio_find_vqs(vdev, nvqs, vqs, callbacks, names, NULL);
}
#else
#define bext_find_vqs(vdev, nvqs, vqs, info) \
	virtio_find_vqs(vdev, nvqs, vqs, info, NULL)
#endif

#endif /* BALLOON_EXT_COMPAT_VIRTIO_H */
