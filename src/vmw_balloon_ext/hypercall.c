// SPDX-License-Identifier: GPL-2.0
/*
 * The balloon's backdoor: one "in" from port 0x5670 with the magic in EAX,
 * the command in ECX and two arguments in RBX and RSI. The host answers a
 * status in EAX, START's granted capabilities in ECX, and the target in
 * RBX. It is the in-tree driver's own port and magic, not the hypervisor
 * port 0x5658 that the kernel's vmware_hypercall() family serves, which
 * is also why neither driver works in an SEV-ES or TDX guest: there an
 * "in" traps to the guest itself and only RAX reaches the host.
 */
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/printk.h>
#include <linux/ratelimit.h>

#include "vmwb.h"

/* vmmemctl's names, which its readers parse. */
const char * const vmwb_cmd_names[VMWB_NR_CMDS] = {
	[VMWB_CMD_START] = "start",
	[VMWB_CMD_GET_TARGET] = "target",
	[VMWB_CMD_LOCK] = "lock",
	[VMWB_CMD_UNLOCK] = "unlock",
	[VMWB_CMD_GUEST_ID] = "guestType",
	[VMWB_CMD_BATCHED_LOCK] = "batchLock",
	[VMWB_CMD_BATCHED_UNLOCK] = "batchUnlock",
	[VMWB_CMD_BATCHED_2M_LOCK] = "2m-lock",
	[VMWB_CMD_BATCHED_2M_UNLOCK] = "2m-unlock",
	[VMWB_CMD_DOORBELL_SET] = "doorbellSet",
};

static const char * const vmwb_status_names[VMWB_NR_STATUSES] = {
	[VMWB_OK] = "SUCCESS",
	[VMWB_ERR_CMD_INVALID] = "CMD_INVALID",
	[VMWB_ERR_PPN_INVALID] = "PPN_INVALID",
	[VMWB_ERR_PPN_LOCKED] = "PPN_LOCKED",
	[VMWB_ERR_PPN_UNLOCKED] = "PPN_UNLOCKED",
	[VMWB_ERR_PPN_PINNED] = "PPN_PINNED",
	[VMWB_ERR_PPN_NOTNEEDED] = "PPN_NOTNEEDED",
	[VMWB_ERR_RESET] = "RESET",
	[VMWB_ERR_BUSY] = "BUSY",
};

const char *vmwb_status_name(unsigned long status, char *buf, size_t len)
{
	if (status < VMWB_NR_STATUSES)
		return vmwb_status_names[status];
	if (status == VMWB_OK_WITH_CAPS)
		return "SUCCESS_WITH_CAPABILITIES";
	snprintf(buf, len, "unknown status %#lx", status);
	return buf;
}

static __always_inline unsigned long
vmwb_backdoor(unsigned long cmd, unsigned long arg1, unsigned long arg2,
	      unsigned long *ecx, unsigned long *rbx)
{
	unsigned long status, dx, si;

	asm volatile ("inl %%dx"
		      : "=a" (status), "=c" (*ecx), "=d" (dx), "=b" (*rbx), "=S" (si)
		      : "0" (VMWB_MAGIC), "1" (cmd), "2" (VMWB_PORT), "3" (arg1), "4" (arg2)
		      : "memory");
	return status;
}

/*
 * A host that answers success without writing RBX hands the guest's own
 * argument back as the target: for a batched command, the batch page's
 * PFN. Taking that as a target would balloon memory nobody asked for.
 */
static bool vmwb_target_plausible(struct vmwb *b, enum vmwb_cmd cmd,
				  unsigned long arg1, unsigned long target)
{
	if (cmd != VMWB_CMD_GET_TARGET && target == arg1 && arg1) {
		atomic64_inc(&b->stats.ext[VMWB_XSTAT_BAD_TARGET]);
		pr_warn_ratelimited("host answered %s with its own argument %#lx as the target; keeping the target at %lu frames\n",
				    vmwb_cmd_names[cmd], arg1, READ_ONCE(b->target));
		return false;
	}
	return true;
}

static void vmwb_take_target(struct vmwb *b, unsigned long target)
{
	WRITE_ONCE(b->host_target, target);
	/*
	 * More than the guest has can never be met: inflation would only
	 * stop when allocations fail. Aim at what there is, and say so.
	 */
	if (b->limit && target > b->limit) {
		atomic64_inc(&b->stats.ext[VMWB_XSTAT_BAD_TARGET]);
		pr_warn_ratelimited("host target %lu frames exceeds the guest's %lu; inflating toward %lu\n",
				    target, b->limit, b->limit);
		target = b->limit;
	}
	WRITE_ONCE(b->target, target);
}

/**
 * vmwb_cmd() - one command to the host.
 * @b: the balloon
 * @cmd: the command
 * @arg1: its first argument (RBX)
 * @arg2: its second argument (RSI)
 * @result: where START's capabilities or the target go, or NULL
 *
 * Counts the command, takes a plausible target from any command that
 * carries one, and marks a reset needed when the host asks for one.
 *
 * Return: the host's status.
 */
unsigned long vmwb_cmd(struct vmwb *b, enum vmwb_cmd cmd, unsigned long arg1,
		       unsigned long arg2, unsigned long *result)
{
	unsigned long status, ecx, rbx;

	atomic64_inc(&b->stats.cmd[cmd]);
	status = vmwb_backdoor(cmd, arg1, arg2, &ecx, &rbx);
	/* EAX is 32 bits wide in the protocol. */
	status = (u32)status;

	if (status == VMWB_OK && (BIT(cmd) & VMWB_CMDS_WITH_TARGET) &&
	    vmwb_target_plausible(b, cmd, arg1, rbx))
		vmwb_take_target(b, rbx);
	if (status != VMWB_OK && status != VMWB_OK_WITH_CAPS)
		atomic64_inc(&b->stats.cmd_failed[cmd]);
	if (status == VMWB_ERR_RESET)
		WRITE_ONCE(b->reset_required, true);
	if (result)
		*result = cmd == VMWB_CMD_START ? ecx : rbx;
	return status;
}

/*
 * A whole command refused: one rate-limited line. RESET is routine (the
 * host restarted the protocol) and BUSY is retried on the next tick; an
 * absent host answers all ones, which is worth saying in words.
 */
static DEFINE_RATELIMIT_STATE(vmwb_absent_rs, 60 * HZ, 1);

void vmwb_log_status(struct vmwb *b, enum vmwb_cmd cmd, unsigned long status)
{
	char buf[32];

	switch (status) {
	case VMWB_OK:
	case VMWB_OK_WITH_CAPS:
		return;
	case VMWB_ERR_RESET:
		pr_info_ratelimited("%s: host asked for a reset\n", vmwb_cmd_names[cmd]);
		return;
	case VMWB_ERR_BUSY:
		pr_info_ratelimited("%s: host busy, trying again later\n", vmwb_cmd_names[cmd]);
		return;
	case U32_MAX:
		/* Asked again every second: once a minute is plenty. */
		if (__ratelimit(&vmwb_absent_rs))
			pr_err("%s: no balloon host answers on port %#x\n",
			       vmwb_cmd_names[cmd], VMWB_PORT);
		return;
	default:
		pr_warn_ratelimited("%s: host refused the command: %s\n", vmwb_cmd_names[cmd],
				    vmwb_status_name(status, buf, sizeof(buf)));
	}
}
