"""vmw_balloon_ext and the in-tree vmw_balloon, side by side, against the VMware host model.

One guest per kernel (tests/vmw_guest.py): the host is QEMU's
vmw-balloon-host device (tests/vmw_host/). The scenarios parametrized on
`driver` run for both drivers, the in-tree one first, loaded in turn in
the same boot; the host's count of locked pages must match the guest's
for both. The differences between them are the intended ones, and only
those (INTENDED):
  - ours reports to balloon_core: vmmemctl starts with InflatedTotal and
    InflatedFree, and every place balloon_core shows agrees with it;
  - ours counts 2 MiB pages in NR_BALLOON_PAGES (meminfo "Balloon:",
    6.15 and later); the in-tree driver counts 4 KiB pages only;
  - on 7.x, a migration that ends with the old page unlocked and the
    new one refused leaves the in-tree driver's pages in NR_BALLOON_PAGES;
  - ours unloads with 2 MiB pages in the balloon; the in-tree driver's
    exit spins forever (reference/vmware-protocol.md 6.0), so its tests
    only unload it empty.
The ours-only tests at the end are the log lines for refusals and lying
hosts, the OOM deflate and unload while inflated. Every wait polls both
sides until they agree; its deadline only bounds a hang.
"""
import re

import pytest

from harness.hog import start_hog, stop_hogs
from harness.vmw_host import vmw_host_qemu
from virtio_guest import CORE_DEBUGFS, core_lines, meminfo_kb, vmstat
from vmw_guest import (CAPS_2M, CAPS_4K, CAPS_SINGLE, FRAMES_PER_MIB, MODE_COMMANDS,
                       balloon_to, boot_vmware, command_deltas, host_commands, host_get,
                       host_set, state, switch_caps, vmmemctl, wait_until)

IN_TREE, OURS = "vmw_balloon", "vmw_balloon_ext"
DRIVERS = (IN_TREE, OURS)
PPN_PINNED, ERROR_RESET = 5, 7
BATCHED_LOCK, BATCHED_2M_LOCK, BATCHED_2M_UNLOCK = 6, 8, 9
FAULTS = ("refuse-count", "busy", "batch-status-count", "force-reset", "absent")


@pytest.fixture(scope="module")
def vmw(boot):
    # 512 MiB: the hog layouts of the migration tests take a share of free
    # memory, and under TCG their time grows with it.
    vm = boot_vmware(boot, vmw_host_qemu(), config_name="vmware-both", mem="512M")
    vm.check("modprobe vmw_vmci")  # ours imports the doorbell calls
    return vm


def unload(vm):
    """Both drivers out, the balloon empty. The in-tree driver only unloads
    empty: with 2 MiB pages its exit never returns."""
    loaded = [name for name in DRIVERS if vm.run(f"test -e /sys/module/{name}")[0] == 0]
    if loaded:
        balloon_to(vm, 0)
    for name in loaded:
        vm.check(f"rmmod {name}", timeout=300)
    vm.run("rmmod balloon_core")


def clear_faults(vm):
    """The host answers truthfully again, and refuses locks past its target."""
    for prop in FAULTS:
        host_set(vm, prop, 0)
    host_set(vm, "lie-target", False)
    host_set(vm, "notneeded", True)


def load(vm, name: str, params: str = ""):
    """`name` alone, fresh, its statistics counting, the host offering 2 MiB pages."""
    unload(vm)
    clear_faults(vm)
    host_set(vm, "caps", CAPS_2M)
    host_set(vm, "target", 0)
    if name == OURS:
        vm.check(f"insmod /ext/balloon_core.ko && insmod /ext/vmw_balloon_ext.ko {params}")
    else:
        vm.check(f"modprobe vmw_balloon {params}")
    vmmemctl(vm)  # the in-tree driver counts from the first read
    wait_until(vm, lambda s: s["resetting"] == "n" and s["host granted"] == CAPS_2M,
               f"{name} STARTed")
    vm.nr_base = balloon_kb(vm) or 0


@pytest.fixture(scope="module", params=DRIVERS)
def driver(request, vmw):
    load(vmw, request.param)
    yield request.param
    if vmw.alive:
        unload(vmw)


@pytest.fixture
def guest(vmw, driver):
    """The guest with `driver` loaded, the host offering 2 MiB pages, and an
    empty balloon, before and after."""
    balloon_to(vmw, 0)
    if host_get(vmw, "granted") != CAPS_2M:
        switch_caps(vmw, CAPS_2M)
    yield vmw
    if vmw.alive:
        clear_faults(vmw)
        balloon_to(vmw, 0)


def balloon_kb(vm) -> int | None:
    """NR_BALLOON_PAGES in kB, folded, where the kernel has it."""
    vm.check("echo 1 > /proc/sys/vm/stat_refresh")
    return meminfo_kb(vm).get("Balloon")


def drivers_balloon_kb(vm) -> int | None:
    """NR_BALLOON_PAGES in kB less what it held with an empty balloon at load:
    the in-tree driver's leak (below) stays in the count for the whole boot."""
    nr = balloon_kb(vm)
    return None if nr is None else nr - vm.nr_base


def check_places(vm, driver: str, show_mem: bool = False):
    """Every place that shows the balloon says what vmmemctl says."""
    text = vm.check("cat /sys/kernel/debug/vmmemctl")
    d = vmmemctl(vm)
    kb = d["current"] * 4
    four_k_kb = host_get(vm, "locked-4k") * 4
    nr = drivers_balloon_kb(vm)
    if nr is not None:
        # INTENDED: in-tree leaves 2 MiB pages out of NR_BALLOON_PAGES.
        assert nr == (kb if driver == OURS else four_k_kb), (nr, kb, four_k_kb)
    if driver != OURS:
        assert not text.startswith("InflatedTotal"), text
        return
    assert text.splitlines()[:2] == ["InflatedTotal: 0 kB", f"InflatedFree: {kb} kB"], text
    assert vm.check(f"head -n 2 {CORE_DEBUGFS}").splitlines() == core_lines(0, kb)
    assert vm.check("cat /sys/kernel/balloon/inflated_total_kb "
                    "/sys/kernel/balloon/inflated_free_kb").split() == ["0", str(kb)]
    meminfo = meminfo_kb(vm)
    assert (meminfo["InflatedTotal"], meminfo["InflatedFree"]) == (0, kb), meminfo
    assert d["pages(4k)"] * 4 == four_k_kb and d["pages(2M)"] == host_get(vm, "locked-2m"), d
    if show_mem:
        vm.check("dmesg -c >/dev/null; echo m > /proc/sysrq-trigger")
        assert f"Balloon InflatedTotal:0kB InflatedFree:{kb}kB" in vm.dmesg()


@pytest.mark.every_kernel
@pytest.mark.parametrize("caps", [CAPS_2M, CAPS_4K, CAPS_SINGLE], ids=["2m", "4k", "single"])
def test_inflate_deflate_in_each_mode(guest, driver, caps):
    s = switch_caps(guest, caps)
    assert s["guest caps"] == caps, s
    lock, unlock = MODE_COMMANDS[caps]
    others = {name for pair in MODE_COMMANDS.values() for name in pair} - {lock, unlock}
    current = s["guest current"]
    for frames in (32 * FRAMES_PER_MIB, 96 * FRAMES_PER_MIB, 16 * FRAMES_PER_MIB, 0):
        before = host_commands(guest)
        s = balloon_to(guest, frames)
        assert s["guest current"] == s["host locked"], s
        used = command_deltas(before, host_commands(guest))
        assert used.get(lock if frames > current else unlock, 0) > 0, used
        assert not others & used.keys(), used
        current = s["guest current"]
        check_places(guest, driver, show_mem=frames == 96 * FRAMES_PER_MIB)
    if caps != CAPS_2M:
        assert host_get(guest, "locked-2m") == 0


def test_reset_in_the_middle_of_inflating(guest, driver):
    """The first lock of an inflate answers RESET: the balloon drops its pages
    unlocked, STARTs again and inflates to the target from nothing."""
    switch_caps(guest, CAPS_4K)
    balloon_to(guest, 32 * FRAMES_PER_MIB)
    resets = vmmemctl(guest)["reset"]
    host_set(guest, "batch-status", ERROR_RESET)
    host_set(guest, "batch-status-count", 1)
    before = host_commands(guest)
    s = balloon_to(guest, 96 * FRAMES_PER_MIB)
    assert s["guest current"] == s["host locked"] == 96 * FRAMES_PER_MIB, s
    assert vmmemctl(guest)["reset"] == resets + 1
    used = command_deltas(before, host_commands(guest))
    assert used.get("start") == 1 and "batchUnlock" not in used, used
    check_places(guest, driver)


def test_refused_2m_pages_are_split(guest, driver):
    host_set(guest, "refuse-cmd", BATCHED_2M_LOCK)
    host_set(guest, "refuse-status", PPN_PINNED)
    host_set(guest, "refuse-count", 16)
    before = host_commands(guest)
    s = balloon_to(guest, 64 * FRAMES_PER_MIB)
    assert s["guest current"] == s["host locked"] == 64 * FRAMES_PER_MIB, s
    assert host_get(guest, "locked-4k") > 0, state(guest)
    used = command_deltas(before, host_commands(guest))
    assert used.get("2m-lock", 0) > 0 and used.get("batchLock", 0) > 0, used
    check_places(guest, driver)


def lay_out_and_compact(vm, below_target: int = 0) -> tuple[int, int]:
    """Inflate into holes a hog leaves in every pageblock and let the hog go,
    as test_virtio_balloon does; the balloon is larger than the spare free
    memory, so it must take the holes. Then lower the host's target by
    `below_target` frames and compact. Returns the frames ballooned and
    balloon_migrate's rise."""
    hog_mib = meminfo_kb(vm)["MemFree"] // 1024 * 3 // 4
    frames = (hog_mib // 2 - 16) * FRAMES_PER_MIB
    start_hog(vm, f"--holes {hog_mib} -1", "holes in")
    try:
        balloon_to(vm, frames)
    finally:
        stop_hogs(vm)
    if below_target:
        host_set(vm, "target", frames - below_target)
    migrated = vmstat(vm, "balloon_migrate")
    vm.check("echo 1 > /proc/sys/vm/compact_memory", timeout=600)
    return frames, vmstat(vm, "balloon_migrate") - migrated


@pytest.mark.every_kernel
def test_compaction_migrates_balloon_pages(guest, driver):
    switch_caps(guest, CAPS_4K)
    before = host_commands(guest)
    frames, migrated = lay_out_and_compact(guest)
    assert migrated > 0, vmmemctl(guest)
    s = wait_until(guest, lambda s: s["guest current"] == s["host locked"], "agreement")
    assert s["guest current"] == frames, s
    used = command_deltas(before, host_commands(guest))
    assert used.get("batchUnlock", 0) >= migrated, used
    check_places(guest, driver)


def test_migration_refused_by_the_host_shrinks_the_balloon(guest, driver):
    """The host's target sits 256 frames under the balloon, inside the
    drivers' deflate slack: a migration unlocks the old page, and the host,
    still holding more than its target, refuses the new one as NOTNEEDED.
    The balloon is a page smaller each time, and both drivers agree with the
    host about it. Ours also takes those pages out of NR_BALLOON_PAGES; on
    7.x the in-tree driver leaves them counted (INTENDED)."""
    switch_caps(guest, CAPS_4K)
    frames, _ = lay_out_and_compact(guest, below_target=256)
    s = wait_until(guest, lambda s: s["guest current"] == s["host locked"], "agreement")
    dropped = frames - s["guest current"]
    assert 0 < dropped <= 256, s
    nr = drivers_balloon_kb(guest)
    if driver == OURS:
        assert vmmemctl(guest)["migrateDropped"] == dropped
        assert nr in (None, s["guest current"] * 4), (nr, s)
    elif nr is not None:
        assert nr == (s["guest current"] + dropped) * 4, (nr, s)
        guest.nr_base += dropped * 4


def test_unknown_entry_status_is_a_refusal(guest, driver):
    host_set(guest, "refuse-cmd", BATCHED_2M_LOCK)
    host_set(guest, "refuse-status", 0x1f)
    host_set(guest, "refuse-count", 4)
    s = balloon_to(guest, 32 * FRAMES_PER_MIB)
    assert s["guest current"] == s["host locked"], s
    assert host_get(guest, "refuse-count") == 0
    check_places(guest, driver)


# Ours only from here.

@pytest.fixture
def ours(vmw):
    load(vmw, OURS)
    yield vmw
    if vmw.alive:
        clear_faults(vmw)
        balloon_to(vmw, 0)


def test_each_refusal_status_gets_a_log_line(ours):
    ours.check("dmesg -c >/dev/null")
    switch_caps(ours, CAPS_4K)
    host_set(ours, "refuse-cmd", BATCHED_LOCK)
    host_set(ours, "refuse-status", PPN_PINNED)
    host_set(ours, "refuse-count", 3)
    balloon_to(ours, 16 * FRAMES_PER_MIB)
    host_set(ours, "busy", 1)
    balloon_to(ours, 32 * FRAMES_PER_MIB)
    host_set(ours, "batch-status", 0x1e)
    host_set(ours, "batch-status-count", 1)
    balloon_to(ours, 48 * FRAMES_PER_MIB)
    host_set(ours, "refuse-status", 0x1f)
    host_set(ours, "refuse-count", 2)
    s = balloon_to(ours, 64 * FRAMES_PER_MIB)
    assert s["guest current"] == s["host locked"], s
    dmesg = ours.dmesg()
    for line in (r"batchLock: host refused 3 of \d+ pages: 3 PPN_PINNED",
                 r"batchLock: host busy, trying again later",
                 r"batchLock: host refused the command: unknown status 0x1e",
                 r"batchLock: host refused 2 of \d+ pages: 2 unknown \(last 0x1f\)"):
        assert re.search(line, dmesg), (line, dmesg[-3000:])
    check_places(ours, OURS)


def test_a_host_that_lies_about_the_target(ours):
    """A host that leaves RBX alone hands back the batch page's PFN as the
    target; one that asks for more than the guest has is aimed at what it has."""
    ours.check("dmesg -c >/dev/null")
    host_set(ours, "lie-target", True)
    s = balloon_to(ours, 32 * FRAMES_PER_MIB)
    assert s["guest current"] == s["host locked"] == 32 * FRAMES_PER_MIB, s
    assert "as the target; keeping the target at" in ours.dmesg()
    host_set(ours, "lie-target", False)
    limit = host_get(ours, "guest-limit")
    # Every lock answered BUSY meanwhile: aimed at all it has, the guest
    # would balloon until it ran out of memory, sooner or later depending
    # on how fast the host runs it.
    host_set(ours, "busy", 1 << 30)
    host_set(ours, "target", 4 * limit)
    wait_until(ours, lambda s: "exceeds the guest's" in ours.dmesg(), "the log line")
    d = vmmemctl(ours)
    assert d["target"] <= limit and d["host target"] == 4 * limit, d
    host_set(ours, "target", 0)
    host_set(ours, "busy", 0)
    balloon_to(ours, 0)
    check_places(ours, OURS)


def test_oom_deflate_gives_memory_back_and_tells_the_host(vmw):
    load(vmw, OURS, "oom_deflate=1")
    try:
        balloon_to(vmw, meminfo_kb(vmw)["MemFree"] // 4 // 2)
        before = host_commands(vmw)
        need_mib = meminfo_kb(vmw)["MemFree"] // 1024 + 64
        rc, out = vmw.run(f"hog {need_mib} 2>&1", timeout=900)
        assert rc == 0, out
        d = vmmemctl(vmw)
        assert d["oomFreed"] > 0 and d["oomCalls"] > 0, d
        # Told through UNLOCK: the host's count follows the guest's.
        wait_until(vmw, lambda s: s["guest current"] == s["host locked"], "agreement")
        assert command_deltas(before, host_commands(vmw)).get("2m-unlock", 0) > 0
        check_places(vmw, OURS)
    finally:
        host_set(vmw, "target", 0)
        unload(vmw)


@pytest.mark.every_kernel
@pytest.mark.parametrize("host_unlocks", [True, False], ids=["unlocked", "refused"])
def test_unload_with_2m_pages_gives_every_page_back(ours, host_unlocks):
    """Unload unlocks what the host will unlock; START(0) then makes it forget
    the rest, which is freed at every page size, 2 MiB included, where the
    in-tree exit only walks the sizes START(0) left it and spins."""
    memfree = meminfo_kb(ours)["MemFree"]
    s = balloon_to(ours, 128 * FRAMES_PER_MIB)
    assert host_get(ours, "locked-2m") > 0, s
    before = host_commands(ours)
    if not host_unlocks:
        host_set(ours, "refuse-cmd", BATCHED_2M_UNLOCK)
        host_set(ours, "refuse-status", PPN_PINNED)
        host_set(ours, "refuse-count", 1 << 20)
    ours.check("rmmod vmw_balloon_ext", timeout=300)
    used = command_deltas(before, host_commands(ours))
    assert used.get("2m-unlock", 0) > 0 and used.get("start") == 1, used
    assert host_get(ours, "locked-frames") == 0
    nr = drivers_balloon_kb(ours)
    assert nr in (None, 0), nr
    assert meminfo_kb(ours)["MemFree"] > memfree - 32 * 1024
    assert ours.check("cat /sys/kernel/balloon/inflated_free_kb").strip() == "0"
    load(ours, OURS)
