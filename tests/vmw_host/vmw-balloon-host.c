/*
 * A test host for the VMware balloon protocol (the guest's vmw_balloon).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The guest does "in %dx,%eax" on port 0x5670 with EAX = 0x456c6d6f, the
 * command in ECX, arguments in RBX and RSI; the status comes back in EAX,
 * the target in RBX, START's granted capabilities in ECX.
 *
 * Commands: 0 START, 1 GET_TARGET, 2 LOCK, 3 UNLOCK, 4 GUEST_ID,
 * 6 BATCHED_LOCK, 7 BATCHED_UNLOCK, 8 BATCHED_2M_LOCK, 9 BATCHED_2M_UNLOCK,
 * 10 VMCI_DOORBELL_SET.  Policy choices of this model:
 *  - START forgets every locked page and always answers
 *    SUCCESS_WITH_CAPABILITIES with ECX = requested & caps.
 *  - Before the first START every other command answers ERROR_RESET,
 *    which makes the guest driver reset (that is, START).
 *  - A command whose capability was not granted at the last START answers
 *    ERROR_CMD_INVALID, and so does an unknown command.
 *  - VMCI_DOORBELL_SET with both ids VMCI_INVALID_ID (~0) is the guest's
 *    unconditional doorbell cleanup: SUCCESS.  Any other doorbell answers
 *    ERROR_CMD_INVALID: there is no VMCI device to ring it.
 *  - LOCK of a locked frame: PPN_LOCKED; UNLOCK of a frame not locked (at
 *    that size): PPN_UNLOCKED; a frame outside guest RAM, or a 2M head not
 *    512-aligned: PPN_INVALID; a lock while the locked frames >= target:
 *    PPN_NOTNEEDED (unless notneeded is off).
 *  - A successful lock discards the host memory behind the page.
 *  - On success, RBX = target for every command but START, GUEST_ID and
 *    doorbell.
 *  - A wrong magic answers like an absent port: EAX = ~0, registers kept.
 *
 * QOM properties (qom-get/qom-set on /machine/peripheral/<id>):
 *  caps (u32, rw)          capabilities offered, default 0x2e
 *  target (u64, rw)        balloon target in 4 KiB frames
 *  granted (u32, ro)       capabilities granted at the last START
 *  guest-limit (u64, ro)   GET_TARGET's argument (guest RAM in frames)
 *  guest-id (u64, ro)      GUEST_ID's argument
 *  locked-4k, locked-2m (u64, ro)  pages locked of each size
 *  locked-frames (u64, ro) locked-4k + 512 * locked-2m
 *  commands (str, ro)      "name=count ..." per command (the guest's
 *                          debugfs names) plus bad-magic, absent, invalid
 *                          (answers of ERROR_CMD_INVALID)
 *  notneeded (bool, rw)    refuse locks beyond the target, default on
 * Faults, each consumed as it fires:
 *  absent (u32)            next N calls answer as an absent port
 *  force-reset (u32)       next N commands answer ERROR_RESET, but not
 *                          START or the doorbell cleanup, which a reset
 *                          itself sends
 *  busy (u32)              next N lock/unlock commands answer ERROR_BUSY
 *  batch-status, batch-status-count (u32)
 *                          next N batched lock/unlock commands answer
 *                          batch-status, leaving their entries untouched
 *  refuse-cmd, refuse-status, refuse-count (u32)
 *                          next N entries of command refuse-cmd (single
 *                          LOCK/UNLOCK calls count as one entry) are
 *                          refused with refuse-status (5 bits in an entry)
 *  lie-target (bool)       lock/unlock commands leave RBX untouched, so
 *                          the guest reads back its own argument as the
 *                          target; GET_TARGET still tells the truth, as its
 *                          argument is the guest's whole RAM
 * The device cannot migrate: the locked-page maps are not saved.
 */

#include "qemu/osdep.h"
#include "qemu/bitmap.h"
#include "qemu/units.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "hw/isa/isa.h"
#include "hw/boards.h"
#include "exec/address-spaces.h"
#include "exec/cpu-common.h"
#include "exec/memory.h"
#include "migration/vmstate.h"
#include "sysemu/hw_accel.h"
#include "qom/object.h"
#include "cpu.h"

#define TYPE_VMW_BALLOON_HOST "vmw-balloon-host"
OBJECT_DECLARE_SIMPLE_TYPE(VMwBalloonHost, VMW_BALLOON_HOST)

#define VMWB_PORT           0x5670
#define VMWB_MAGIC          0x456c6d6f
#define VMWB_INVALID_ID     (~0ULL)
#define VMWB_ALL_ONES       0xffffffffU
#define VMWB_BATCH_MAX      512
#define VMWB_2M_FRAMES      512
#define VMWB_ENTRY_STATUS   0x1fULL
#define VMWB_ENTRY_PFN_SHIFT 12

enum {
    CMD_START, CMD_GET_TARGET, CMD_LOCK, CMD_UNLOCK, CMD_GUEST_ID,
    CMD_UNUSED5, CMD_BATCHED_LOCK, CMD_BATCHED_UNLOCK, CMD_2M_LOCK,
    CMD_2M_UNLOCK, CMD_DOORBELL_SET, CMD_NR
};

enum {
    ST_SUCCESS, ST_CMD_INVALID, ST_PPN_INVALID, ST_PPN_LOCKED,
    ST_PPN_UNLOCKED, ST_PPN_PINNED, ST_PPN_NOTNEEDED, ST_RESET, ST_BUSY,
    ST_SUCCESS_WITH_CAPS = 0x03000000
};

#define CAP_BASIC       0x02
#define CAP_BATCHED     0x04
#define CAP_2M          0x08
#define CAP_DOORBELL    0x10
#define CAP_64BIT       0x20

/* The counters of the "commands" property, in its order. */
static const char *const cmd_names[CMD_NR] = {
    "start", "target", "lock", "unlock", "guestType", "unused5",
    "batchLock", "batchUnlock", "2m-lock", "2m-unlock", "doorbellSet",
};

struct VMwBalloonHost {
    ISADevice parent_obj;
    MemoryRegion io;

    uint32_t caps;
    uint64_t target;
    uint32_t granted;
    bool started;
    uint64_t guest_limit;
    uint64_t guest_id;

    /* Frames locked as 4 KiB pages, and heads of locked 2 MiB pages. */
    unsigned long *map_4k;
    unsigned long *map_2m;
    uint64_t nr_frames;
    uint64_t locked_4k;
    uint64_t locked_2m;

    uint64_t count[CMD_NR];
    uint64_t bad_magic, absent_calls, invalid;

    uint32_t absent, force_reset, busy;
    uint32_t batch_status, batch_status_count;
    uint32_t refuse_cmd, refuse_status, refuse_count;
    bool lie_target, notneeded;
};

static uint64_t locked_frames(VMwBalloonHost *s)
{
    return s->locked_4k + VMWB_2M_FRAMES * s->locked_2m;
}

/* The RAM region behind [pfn, pfn + frames), or NULL if not all guest RAM. */
static MemoryRegion *ram_at(VMwBalloonHost *s, uint64_t pfn, uint64_t frames,
                            hwaddr *offset)
{
    uint64_t len = frames * TARGET_PAGE_SIZE;
    MemoryRegionSection sec;
    MemoryRegion *mr = NULL;

    if (pfn >= s->nr_frames || s->nr_frames - pfn < frames) {
        return NULL;
    }
    sec = memory_region_find(get_system_memory(), pfn * TARGET_PAGE_SIZE,
                             len);
    if (!sec.mr) {
        return NULL;
    }
    if (memory_region_is_ram(sec.mr) && !memory_region_is_rom(sec.mr) &&
        !memory_region_is_romd(sec.mr) && int128_get64(sec.size) == len) {
        mr = sec.mr;
        *offset = sec.offset_within_region;
    }
    memory_region_unref(sec.mr);
    return mr;
}

/* Give the host memory behind a locked page back, as virtio-balloon does. */
static void discard(MemoryRegion *mr, hwaddr offset, uint64_t len)
{
    void *host = memory_region_get_ram_ptr(mr) + offset;
    ram_addr_t rb_offset;
    RAMBlock *rb;

    if (ram_block_discard_is_disabled()) {
        return;
    }
    rb = qemu_ram_block_from_host(host, false, &rb_offset);
    /* A huge-page backed block cannot drop less than one of its pages. */
    if (rb && qemu_ram_pagesize(rb) <= len) {
        ram_block_discard_range(rb, rb_offset, len);
    }
}

static uint32_t lock_page(VMwBalloonHost *s, uint64_t pfn, bool huge)
{
    uint64_t frames = huge ? VMWB_2M_FRAMES : 1;
    hwaddr offset;
    MemoryRegion *mr = ram_at(s, pfn, frames, &offset);

    if ((huge && pfn % VMWB_2M_FRAMES) || !mr) {
        return ST_PPN_INVALID;
    }
    /* Locked already, at either size? */
    if (test_bit(pfn & ~(uint64_t)(VMWB_2M_FRAMES - 1), s->map_2m) ||
        find_next_bit(s->map_4k, pfn + frames, pfn) < pfn + frames) {
        return ST_PPN_LOCKED;
    }
    if (s->notneeded && locked_frames(s) >= s->target) {
        return ST_PPN_NOTNEEDED;
    }
    if (huge) {
        set_bit(pfn, s->map_2m);
        s->locked_2m++;
    } else {
        set_bit(pfn, s->map_4k);
        s->locked_4k++;
    }
    discard(mr, offset, frames * TARGET_PAGE_SIZE);
    return ST_SUCCESS;
}

static uint32_t unlock_page(VMwBalloonHost *s, uint64_t pfn, bool huge)
{
    unsigned long *map = huge ? s->map_2m : s->map_4k;
    hwaddr offset;

    if ((huge && pfn % VMWB_2M_FRAMES) ||
        !ram_at(s, pfn, huge ? VMWB_2M_FRAMES : 1, &offset)) {
        return ST_PPN_INVALID;
    }
    /* A page must be unlocked at the size it was locked. */
    if (!test_and_clear_bit(pfn, map)) {
        return ST_PPN_UNLOCKED;
    }
    if (huge) {
        s->locked_2m--;
    } else {
        s->locked_4k--;
    }
    return ST_SUCCESS;
}

/* One page of command cmd, single or a batch entry, with refuse-* applied. */
static uint32_t page_op(VMwBalloonHost *s, int cmd, uint64_t pfn)
{
    bool huge = cmd == CMD_2M_LOCK || cmd == CMD_2M_UNLOCK;

    if (s->refuse_count && s->refuse_cmd == cmd) {
        s->refuse_count--;
        return s->refuse_status;
    }
    if (cmd == CMD_LOCK || cmd == CMD_BATCHED_LOCK || cmd == CMD_2M_LOCK) {
        return lock_page(s, pfn, huge);
    }
    return unlock_page(s, pfn, huge);
}

static uint32_t batch_op(VMwBalloonHost *s, int cmd, uint64_t batch_pfn,
                         uint64_t n)
{
    uint64_t entries[VMWB_BATCH_MAX];
    hwaddr offset;
    uint64_t i;

    if (n > VMWB_BATCH_MAX || !ram_at(s, batch_pfn, 1, &offset)) {
        return ST_PPN_INVALID;
    }
    cpu_physical_memory_read(batch_pfn * TARGET_PAGE_SIZE, entries, n * 8);
    for (i = 0; i < n; i++) {
        uint64_t e = le64_to_cpu(entries[i]);
        uint32_t st = page_op(s, cmd, e >> VMWB_ENTRY_PFN_SHIFT);

        e = (e & ~VMWB_ENTRY_STATUS) | (st & VMWB_ENTRY_STATUS);
        entries[i] = cpu_to_le64(e);
    }
    cpu_physical_memory_write(batch_pfn * TARGET_PAGE_SIZE, entries, n * 8);
    return ST_SUCCESS;
}

static bool cmd_granted(VMwBalloonHost *s, int cmd)
{
    switch (cmd) {
    case CMD_LOCK:
    case CMD_UNLOCK:
        return s->granted & CAP_BASIC;
    case CMD_BATCHED_LOCK:
    case CMD_BATCHED_UNLOCK:
        return s->granted & CAP_BATCHED;
    case CMD_2M_LOCK:
    case CMD_2M_UNLOCK:
        return (s->granted & (CAP_BATCHED | CAP_2M)) ==
               (CAP_BATCHED | CAP_2M);
    default:
        return true;
    }
}

static uint32_t handle(VMwBalloonHost *s, CPUX86State *env, int cmd,
                       uint64_t arg1, uint64_t arg2)
{
    bool page_cmd = cmd == CMD_LOCK || cmd == CMD_UNLOCK;
    bool batched = cmd >= CMD_BATCHED_LOCK && cmd <= CMD_2M_UNLOCK;
    uint32_t st;

    if (cmd == CMD_START) {
        bitmap_zero(s->map_4k, s->nr_frames);
        bitmap_zero(s->map_2m, s->nr_frames);
        s->locked_4k = s->locked_2m = 0;
        s->granted = arg1 & s->caps;
        s->started = true;
        env->regs[R_ECX] = s->granted;
        return ST_SUCCESS_WITH_CAPS;
    }
    if (cmd == CMD_DOORBELL_SET && arg1 == VMWB_INVALID_ID &&
        arg2 == VMWB_INVALID_ID) {
        return ST_SUCCESS;
    }
    if (s->force_reset) {
        s->force_reset--;
        return ST_RESET;
    }
    if (cmd >= CMD_NR || cmd == CMD_UNUSED5 || cmd == CMD_DOORBELL_SET) {
        return ST_CMD_INVALID;
    }
    if (!s->started) {
        return ST_RESET;
    }
    if (!cmd_granted(s, cmd)) {
        return ST_CMD_INVALID;
    }
    if ((page_cmd || batched) && s->busy) {
        s->busy--;
        return ST_BUSY;
    }
    if (batched && s->batch_status_count) {
        s->batch_status_count--;
        return s->batch_status;
    }

    switch (cmd) {
    case CMD_GET_TARGET:
        s->guest_limit = arg1;
        st = ST_SUCCESS;
        break;
    case CMD_GUEST_ID:
        s->guest_id = arg1;
        return ST_SUCCESS;
    case CMD_LOCK:
    case CMD_UNLOCK:
        st = page_op(s, cmd, arg1);
        break;
    default:
        st = batch_op(s, cmd, arg1, arg2);
        break;
    }
    /* The guest takes RBX as its new target after every such success. */
    if (st == ST_SUCCESS && (cmd == CMD_GET_TARGET || !s->lie_target)) {
        env->regs[R_EBX] = s->target;
    }
    return st;
}

static uint64_t vmwb_read(void *opaque, hwaddr addr, unsigned size)
{
    VMwBalloonHost *s = opaque;
    X86CPU *cpu = X86_CPU(current_cpu);
    CPUX86State *env = &cpu->env;
    uint32_t cmd, st;

    if (s->absent) {
        s->absent--;
        s->absent_calls++;
        return VMWB_ALL_ONES;
    }
    cpu_synchronize_state(current_cpu);
    if ((uint32_t)env->regs[R_EAX] != VMWB_MAGIC) {
        s->bad_magic++;
        return VMWB_ALL_ONES;
    }
    cmd = env->regs[R_ECX];
    if (cmd < CMD_NR) {
        s->count[cmd]++;
    }
    st = handle(s, env, cmd, env->regs[R_EBX], env->regs[R_ESI]);
    if (st == ST_CMD_INVALID) {
        s->invalid++;
    }
    /* The synchronized registers go back to the vCPU: EAX too, as vmport. */
    env->regs[R_EAX] = st;
    return st;
}

static void vmwb_write(void *opaque, hwaddr addr, uint64_t val,
                       unsigned size)
{
    /* The protocol only reads the port. */
}

static const MemoryRegionOps vmwb_ops = {
    .read = vmwb_read,
    .write = vmwb_write,
    .impl = {
        .min_access_size = 4,
        .max_access_size = 4,
    },
    .endianness = DEVICE_LITTLE_ENDIAN,
};

static void get_locked_frames(Object *obj, Visitor *v, const char *name,
                              void *opaque, Error **errp)
{
    uint64_t value = locked_frames(VMW_BALLOON_HOST(obj));

    visit_type_uint64(v, name, &value, errp);
}

static char *get_commands(Object *obj, Error **errp)
{
    VMwBalloonHost *s = VMW_BALLOON_HOST(obj);
    GString *out = g_string_new(NULL);
    int i;

    for (i = 0; i < CMD_NR; i++) {
        if (i != CMD_UNUSED5) {
            g_string_append_printf(out, "%s=%" PRIu64 " ", cmd_names[i],
                                   s->count[i]);
        }
    }
    g_string_append_printf(out, "bad-magic=%" PRIu64 " absent=%" PRIu64
                           " invalid=%" PRIu64, s->bad_magic,
                           s->absent_calls, s->invalid);
    return g_string_free(out, false);
}

static bool get_lie_target(Object *obj, Error **errp)
{
    return VMW_BALLOON_HOST(obj)->lie_target;
}

static void set_lie_target(Object *obj, bool value, Error **errp)
{
    VMW_BALLOON_HOST(obj)->lie_target = value;
}

static bool get_notneeded(Object *obj, Error **errp)
{
    return VMW_BALLOON_HOST(obj)->notneeded;
}

static void set_notneeded(Object *obj, bool value, Error **errp)
{
    VMW_BALLOON_HOST(obj)->notneeded = value;
}

static void vmwb_instance_init(Object *obj)
{
    VMwBalloonHost *s = VMW_BALLOON_HOST(obj);
    const ObjectPropertyFlags rw = OBJ_PROP_FLAG_READWRITE;
    const ObjectPropertyFlags ro = OBJ_PROP_FLAG_READ;

    s->caps = CAP_BASIC | CAP_BATCHED | CAP_2M | CAP_64BIT;
    s->notneeded = true;
    /* Not qdev properties: those cannot be set on a realized device. */
    object_property_add_uint32_ptr(obj, "caps", &s->caps, rw);
    object_property_add_uint64_ptr(obj, "target", &s->target, rw);
    object_property_add_uint32_ptr(obj, "granted", &s->granted, ro);
    object_property_add_uint64_ptr(obj, "guest-limit", &s->guest_limit, ro);
    object_property_add_uint64_ptr(obj, "guest-id", &s->guest_id, ro);
    object_property_add_uint64_ptr(obj, "locked-4k", &s->locked_4k, ro);
    object_property_add_uint64_ptr(obj, "locked-2m", &s->locked_2m, ro);
    object_property_add(obj, "locked-frames", "uint64", get_locked_frames,
                        NULL, NULL, NULL);
    object_property_add_str(obj, "commands", get_commands, NULL);
    object_property_add_uint32_ptr(obj, "absent", &s->absent, rw);
    object_property_add_uint32_ptr(obj, "force-reset", &s->force_reset, rw);
    object_property_add_uint32_ptr(obj, "busy", &s->busy, rw);
    object_property_add_uint32_ptr(obj, "batch-status", &s->batch_status,
                                   rw);
    object_property_add_uint32_ptr(obj, "batch-status-count",
                                   &s->batch_status_count, rw);
    object_property_add_uint32_ptr(obj, "refuse-cmd", &s->refuse_cmd, rw);
    object_property_add_uint32_ptr(obj, "refuse-status", &s->refuse_status,
                                   rw);
    object_property_add_uint32_ptr(obj, "refuse-count", &s->refuse_count,
                                   rw);
    object_property_add_bool(obj, "lie-target", get_lie_target,
                             set_lie_target);
    object_property_add_bool(obj, "notneeded", get_notneeded, set_notneeded);
}

static void vmwb_realize(DeviceState *dev, Error **errp)
{
    VMwBalloonHost *s = VMW_BALLOON_HOST(dev);

    /* Frames up to the top of RAM, with room for the PCI hole below 4G. */
    /* ISA devices are never unplugged: the maps live as long as QEMU. */
    s->nr_frames = (current_machine->ram_size + 4 * GiB) >> TARGET_PAGE_BITS;
    s->map_4k = bitmap_new(s->nr_frames);
    s->map_2m = bitmap_new(s->nr_frames);
    memory_region_init_io(&s->io, OBJECT(s), &vmwb_ops, s,
                          TYPE_VMW_BALLOON_HOST, 1);
    isa_register_ioport(ISA_DEVICE(dev), &s->io, VMWB_PORT);
}

/* The locked-page maps are not migrated: neither is the device. */
static const VMStateDescription vmstate_vmwb = {
    .name = TYPE_VMW_BALLOON_HOST,
    .unmigratable = 1,
};

static void vmwb_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);

    dc->realize = vmwb_realize;
    dc->vmsd = &vmstate_vmwb;
    dc->user_creatable = true;
    dc->desc = "VMware balloon protocol host, for testing guests";
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
}

static const TypeInfo vmwb_info = {
    .name = TYPE_VMW_BALLOON_HOST,
    .parent = TYPE_ISA_DEVICE,
    .instance_size = sizeof(VMwBalloonHost),
    .instance_init = vmwb_instance_init,
    .class_init = vmwb_class_init,
};

static void vmwb_register_types(void)
{
    type_register_static(&vmwb_info);
}

type_init(vmwb_register_types)
