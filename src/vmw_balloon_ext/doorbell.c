// SPDX-License-Identifier: GPL-2.0
/*
 * The VMCI doorbell: where the host grants SIGNALLED_WAKEUP, it rings a
 * doorbell when the target changes, and the balloon works at once
 * instead of at the next one-second tick. Without the capability, or
 * without VMCI in the kernel, the driver just polls.
 *
 * Every reset and module exit first clears the host's doorbell with
 * VMCI_INVALID_ID, as the in-tree driver does, whatever was granted.
 */
#include <linux/printk.h>
#include <linux/vmw_vmci_defs.h>
#include <linux/vmw_vmci_api.h>

#include "vmwb.h"

#if IS_REACHABLE(CONFIG_VMWARE_VMCI)

static void vmwb_doorbell_rung(void *data)
{
	struct vmwb *b = data;

	atomic64_inc(&b->stats.stat[VMWB_STAT_DOORBELL]);
	if (!READ_ONCE(b->stopping))
		mod_delayed_work(system_freezable_wq, &b->dwork, 0);
}

int vmwb_doorbell_init(struct vmwb *b)
{
	unsigned long status;
	int err;

	if (!(b->caps & VMWB_CAP_DOORBELL))
		return 0;
	err = vmci_doorbell_create(&b->doorbell, VMCI_FLAG_DELAYED_CB,
				   VMCI_PRIVILEGE_FLAG_RESTRICTED, vmwb_doorbell_rung, b);
	if (err != VMCI_SUCCESS) {
		b->doorbell = VMCI_INVALID_HANDLE;
		return -EIO;
	}
	status = vmwb_cmd(b, VMWB_CMD_DOORBELL_SET, b->doorbell.context,
			  b->doorbell.resource, NULL);
	if (status != VMWB_OK) {
		vmwb_log_status(b, VMWB_CMD_DOORBELL_SET, status);
		vmwb_doorbell_cleanup(b);
		return -EIO;
	}
	return 0;
}

void vmwb_doorbell_cleanup(struct vmwb *b)
{
	vmwb_cmd(b, VMWB_CMD_DOORBELL_SET, VMCI_INVALID_ID, VMCI_INVALID_ID, NULL);
	if (!vmci_handle_is_invalid(b->doorbell)) {
		vmci_doorbell_destroy(b->doorbell);
		b->doorbell = VMCI_INVALID_HANDLE;
	}
}

#else /* !CONFIG_VMWARE_VMCI */

int vmwb_doorbell_init(struct vmwb *b)
{
	return b->caps & VMWB_CAP_DOORBELL ? -EOPNOTSUPP : 0;
}

void vmwb_doorbell_cleanup(struct vmwb *b)
{
	vmwb_cmd(b, VMWB_CMD_DOORBELL_SET, VMCI_INVALID_ID, VMCI_INVALID_ID, NULL);
}

#endif
