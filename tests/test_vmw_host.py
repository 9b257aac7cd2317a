"""The VMware balloon host model (tests/vmw_host) against the unmodified in-tree vmw_balloon.

One guest per kernel passes for a VMware VM (tests/vmw_guest.py) on a QEMU
with -device vmw-balloon-host built in (harness/vmw_host.py). The tests run
in order on that guest; each starts and ends with an empty balloon. Every
wait polls both sides until they agree, with a deadline that only bounds a
hang: nothing here depends on the host's speed. The scenarios both drivers
share (modes, resets, refusals, migration) are in test_vmw_balloon.py, which
runs them for the in-tree driver and ours in one guest; here are the
host's own: detection, failed commands, memory given back, and calls no
driver makes.

Not tested: rmmod vmw_balloon with 2 MiB pages in the balloon. The in-tree
driver's exit sends START(0) before it frees its pages, after which it no
longer frees 2 MiB pages and spins (reference/vmware-protocol.md, 6.0).
"""
import pytest

from harness.build import build_static
from harness.guest import REPO
from harness.vmw_host import vmw_host_qemu

from vmw_guest import (CAPS_2M, FRAMES_PER_MIB, balloon_to, boot_vmware, command_deltas,
                       host_commands, host_get, host_set, qemu_rss_kb, switch_caps, vmmemctl,
                       wait_until)


@pytest.fixture(scope="module")
def vmw_qemu():
    return vmw_host_qemu()


@pytest.fixture(scope="module")
def vmw(boot, vmw_qemu):
    """The VMware guest, vmw_balloon loaded, the host offering 2 MiB pages, target 0."""
    vm = boot_vmware(boot, vmw_qemu, extra_files={
        "/bin/vmw-call": build_static(REPO / "tests" / "guest" / "vmw-call.c")})
    if vm.run("test -e /sys/module/vmw_balloon")[0] != 0:
        vm.check("modprobe vmw_balloon")
        vmmemctl(vm)  # the driver's statistics start at their first read
    return vm


@pytest.fixture
def guest(vmw):
    """vmw in 2 MiB mode with an empty balloon, before and after the test."""
    balloon_to(vmw, 0)
    if host_get(vmw, "granted") != CAPS_2M:
        switch_caps(vmw, CAPS_2M)
    yield vmw
    if vmw.alive:
        for prop in ("refuse-count", "busy", "batch-status-count", "force-reset"):
            host_set(vmw, prop, 0)
        balloon_to(vmw, 0)


def test_detects_vmware_and_starts(vmw):
    dmesg = vmw.dmesg()
    assert "Hypervisor detected: VMware" in dmesg, dmesg[-3000:]
    s = balloon_to(vmw, 0)
    assert s["guest caps"] == s["host granted"] == CAPS_2M, s
    assert vmmemctl(vmw)["balloon capabilities"] == 0x3e
    # The reset sequence reached the host: doorbell cleanup, START, GUEST_ID(1), GET_TARGET.
    counts = host_commands(vmw)
    assert all(counts[name] >= 1 for name in ("doorbellSet", "start", "guestType", "target")), \
        counts
    assert counts["bad-magic"] == counts["invalid"] == 0, counts
    assert host_get(vmw, "guest-id") == 1
    # GET_TARGET's argument is totalram_pages(), which MemTotal shows in kB.
    memtotal_kb = int(vmw.check("grep MemTotal: /proc/meminfo").split()[1])
    assert host_get(vmw, "guest-limit") == memtotal_kb // 4


def test_busy_and_batch_status_delay_inflation(guest):
    """ERROR_BUSY and a whole-batch error fail that tick's inflate; the next ticks go on."""
    def lock_failures():
        # Unlocks too: a migration in the meantime takes a fault as well.
        ops = vmmemctl(guest)["ops"]
        return sum(ops[name][1] for name in ("2m-lock", "batchLock", "2m-unlock", "batchUnlock"))
    failed = lock_failures()
    host_set(guest, "busy", 3)
    host_set(guest, "batch-status", 0x1f)
    host_set(guest, "batch-status-count", 3)
    s = balloon_to(guest, 32 * FRAMES_PER_MIB)
    assert s["guest current"] == s["host locked"] == 32 * FRAMES_PER_MIB, s
    assert host_get(guest, "busy") == host_get(guest, "batch-status-count") == 0
    assert lock_failures() - failed == 6, vmmemctl(guest)["ops"]


def test_inflate_gives_memory_back_to_the_host(guest):
    """QEMU's RSS falls by at least half of a balloon inflated over memory the guest touched."""
    inflate_mib = 512
    # Nearly all free memory touched, then freed at exit: guest-free, host-resident.
    free_mib = int(guest.check("grep MemFree: /proc/meminfo").split()[1]) // 1024
    rc, out = guest.run(f"hog {free_mib - 64} 2>/dev/null", timeout=600)
    assert rc == 0, out
    rss_before = qemu_rss_kb(guest)
    s = balloon_to(guest, inflate_mib * FRAMES_PER_MIB)
    assert s["guest current"] == s["host locked"], s
    rss_after = qemu_rss_kb(guest)
    assert rss_before - rss_after >= inflate_mib * 1024 // 2, (rss_before, rss_after)


def test_absent_port_fails_calls_without_a_reset(guest):
    """Calls answered as by an absent port (EAX all ones) fail, and only those:
    0xffffffff is no ERROR_RESET, so the driver goes on with what it has."""
    def failures():
        return sum(failed for _, failed in vmmemctl(guest)["ops"].values())
    balloon_to(guest, 16 * FRAMES_PER_MIB)
    before, failed, resets = host_commands(guest), failures(), vmmemctl(guest)["reset"]
    host_set(guest, "absent", 5)
    wait_until(guest, lambda s: host_get(guest, "absent") == 0, "5 calls answered absent")
    s = balloon_to(guest, 48 * FRAMES_PER_MIB)
    assert s["guest current"] == s["host locked"] == 48 * FRAMES_PER_MIB, s
    assert command_deltas(before, host_commands(guest))["absent"] == 5
    assert failures() - failed == 5, vmmemctl(guest)["ops"]
    assert vmmemctl(guest)["reset"] == resets


# Statuses the tests below expect, from the protocol.
SUCCESS, CMD_INVALID, PPN_INVALID, PPN_LOCKED, PPN_UNLOCKED = 0, 1, 2, 3, 4
PPN_NOTNEEDED, ERROR_RESET, ERROR_BUSY, WITH_CAPS, ALL_ONES = 6, 7, 8, 0x03000000, 0xffffffff
START, GET_TARGET, LOCK, UNLOCK, GUEST_ID = 0, 1, 2, 3, 4
BATCHED_LOCK, BATCHED_UNLOCK, LOCK_2M, UNLOCK_2M, DOORBELL_SET = 6, 7, 8, 9, 10
INVALID_ID = (1 << 64) - 1


def call(vm, cmd, arg1=0, arg2=0, magic=None) -> tuple[int, int, int]:
    """(status, rbx, rcx) of one call on the port, from the guest (tests/guest/vmw-call.c)."""
    out = vm.check(f"vmw-call call {cmd} {arg1} {arg2} {'' if magic is None else magic}")
    return tuple(int(word, 16) for word in out.split())


def batch(vm, cmd, pfns) -> tuple[int, int, int, list[int]]:
    """(status, rbx, batch page PFN, entry statuses) of one batched call."""
    lines = vm.check(f"vmw-call batch {cmd} {' '.join(map(str, pfns))}").split()
    return (*(int(word, 16) for word in lines[:3]), [int(word) for word in lines[3:]])


@pytest.fixture
def direct(guest):
    """(guest, PFNs of 3 pages a background vmw-call holds), vmw_balloon unloaded:
    with an empty balloon its exit is safe. Reloaded afterwards."""
    guest.check("rmmod vmw_balloon")
    # Compaction moves mlocked pages too: a held PFN must stay the page we hold.
    guest.check("echo 0 >/proc/sys/vm/compact_unevictable_allowed")
    host_set(guest, "target", 1000)
    # The file exists before the job starts: the loop must not race its redirection.
    guest.check(": >/tmp/held; vmw-call hold 3 >/tmp/held & "
                "until [ \"$(wc -l </tmp/held)\" = 3 ]; do sleep 0.2; done")
    yield guest, [int(line) for line in guest.check("cat /tmp/held").split()]
    guest.check("killall vmw-call 2>/dev/null; while pidof vmw-call >/dev/null; do sleep 0.2; "
                "done; echo 1 >/proc/sys/vm/compact_unevictable_allowed")
    host_set(guest, "lie-target", False)
    host_set(guest, "notneeded", True)
    for prop in ("absent", "force-reset", "busy", "batch-status-count", "refuse-count"):
        host_set(guest, prop, 0)
    host_set(guest, "target", 0)
    guest.check("modprobe vmw_balloon")
    vmmemctl(guest)
    balloon_to(guest, 0)


def test_protocol_edges_by_direct_calls(direct):
    """The host's answers to what the in-tree driver never sends, call by call."""
    vm, (p0, p1, p2) = direct
    # The driver's exit sent START(0): nothing is granted, not even single locks.
    assert host_get(vm, "granted") == 0
    assert call(vm, LOCK, p0)[0] == CMD_INVALID
    assert call(vm, START, 0x3e)[::2] == (WITH_CAPS, 0x2e)
    # Single pages: lock, lock again, unlock, unlock again; RBX = target on success.
    assert call(vm, LOCK, p0)[:2] == (SUCCESS, 1000)
    assert call(vm, LOCK, p0)[0] == PPN_LOCKED
    assert host_get(vm, "locked-4k") == 1
    assert call(vm, UNLOCK, p0)[:2] == (SUCCESS, 1000)
    assert call(vm, UNLOCK, p0)[0] == PPN_UNLOCKED
    assert call(vm, LOCK, 0x7fffffff)[0] == PPN_INVALID  # beyond guest RAM
    # A batch: per-entry statuses, the whole call a success.
    assert batch(vm, BATCHED_LOCK, [p1, p2, p1])[::3] == (SUCCESS, [0, 0, PPN_LOCKED])
    assert host_get(vm, "locked-frames") == 2
    # 2 MiB entries: a head not 512-aligned is invalid; the 2 MiB page around a frame
    # locked as 4 KiB is neither locked as 2 MiB (unlock) nor free to lock.
    head = p1 - p1 % 512
    assert batch(vm, UNLOCK_2M, [head + 1])[3] == [PPN_INVALID]
    assert batch(vm, UNLOCK_2M, [head])[3] == [PPN_UNLOCKED]
    assert batch(vm, LOCK_2M, [head])[3] == [PPN_LOCKED]
    assert host_get(vm, "locked-2m") == 0
    assert batch(vm, BATCHED_UNLOCK, [p1, p2])[3] == [0, 0]
    # At the target, a lock is not needed; unless notneeded is off.
    host_set(vm, "target", 0)
    assert call(vm, LOCK, p0)[0] == PPN_NOTNEEDED
    host_set(vm, "notneeded", False)
    assert call(vm, LOCK, p0)[:2] == (SUCCESS, 0)
    assert call(vm, UNLOCK, p0)[0] == SUCCESS
    host_set(vm, "target", 1000)
    # lie-target: RBX keeps the guest's own argument (the batch page's PFN).
    host_set(vm, "lie-target", True)
    assert call(vm, LOCK, p0)[:2] == (SUCCESS, p0)
    status, rbx, batch_pfn, entries = batch(vm, BATCHED_UNLOCK, [p0])
    assert (status, rbx, entries) == (SUCCESS, batch_pfn, [0])
    assert call(vm, GET_TARGET, 12345)[:2] == (SUCCESS, 1000)
    assert host_get(vm, "guest-limit") == 12345
    host_set(vm, "lie-target", False)
    # Faults, each for one call.
    host_set(vm, "busy", 1)
    assert call(vm, LOCK, p0)[0] == ERROR_BUSY
    assert host_get(vm, "locked-frames") == 0
    host_set(vm, "batch-status", 0x1f)
    host_set(vm, "batch-status-count", 1)
    assert batch(vm, BATCHED_LOCK, [p1])[::3] == (0x1f, [0])  # entries untouched
    assert host_get(vm, "locked-frames") == 0
    host_set(vm, "refuse-cmd", BATCHED_LOCK)
    host_set(vm, "refuse-status", 0x1f)
    host_set(vm, "refuse-count", 1)
    assert batch(vm, BATCHED_LOCK, [p1, p2])[::3] == (SUCCESS, [0x1f, 0])
    assert batch(vm, BATCHED_UNLOCK, [p2])[3] == [0]
    host_set(vm, "force-reset", 1)
    assert call(vm, GET_TARGET, 1)[0] == ERROR_RESET
    host_set(vm, "force-reset", 1)
    assert call(vm, START, 0x3e)[0] == WITH_CAPS  # a reset's START is never refused
    assert call(vm, GET_TARGET, 1)[0] == ERROR_RESET
    before = host_commands(vm)
    host_set(vm, "absent", 1)
    assert call(vm, GUEST_ID, 7)[:2] == (ALL_ONES, 7)
    assert call(vm, GET_TARGET, 1, magic=0x12345678)[:2] == (ALL_ONES, 1)
    assert call(vm, 5)[0] == call(vm, 42)[0] == CMD_INVALID
    assert call(vm, GUEST_ID, 7)[0] == SUCCESS and host_get(vm, "guest-id") == 7
    # The doorbell: only the cleanup (both ids invalid) succeeds.
    assert call(vm, DOORBELL_SET, INVALID_ID, INVALID_ID)[0] == SUCCESS
    assert call(vm, DOORBELL_SET, 3, 4)[0] == CMD_INVALID
    used = command_deltas(before, host_commands(vm))
    assert used == {"absent": 1, "bad-magic": 1, "invalid": 3, "guestType": 1,
                    "doorbellSet": 2}, used
    # Caps not granted: without BATCHED_2M, 2 MiB commands are invalid.
    assert call(vm, START, 0x26)[::2] == (WITH_CAPS, 0x26)
    assert batch(vm, LOCK_2M, [head])[0] == CMD_INVALID
    assert host_get(vm, "locked-frames") == 0
