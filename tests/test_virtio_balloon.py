"""virtio_balloon_ext against a real virtio-balloon-pci device, driven over QMP.

Two guests: the shared "core" guest (deflate-on-oom and free page reporting
on) and "nooom" (deflate-on-oom off, the device on a PCIe root port so it
can be hot-unplugged). Every test starts from an empty balloon with the
driver freshly loaded, and leaves the host's target at the full RAM.
"""
import re
import time

import pytest

from harness.hog import start_hog, stop_hogs
from harness.vm import QemuExited

from virtio_guest import (DEBUGFS, NOOOM_DEVICES, STAT_NAMES, MiB, balloon_to, check_accounting,
                          hog_past_free, load_driver, meminfo_kb, missing_stats, next_guest_stats, stats_polling,
                          unload_all, unplug, vb_debugfs, vmstat, wait_actual, wait_guest)



# The balloon_core source of a guest's only balloon device.
SOURCE = r"virtio_balloon_ext-virtio\d+"
HISTORY = r"Balloon recent: (.*)"


def fresh(vm, params=""):
    vm.qmp("balloon", value=vm.ram)
    load_driver(vm, params)
    wait_actual(vm, vm.ram)
    vm.check("dmesg -c >/dev/null")
    return meminfo_kb(vm)["MemTotal"]


@pytest.fixture
def oom_vm(core_vm):
    """deflate-on-oom on: ballooned memory is InflatedFree."""
    yield core_vm
    core_vm.qmp("balloon", value=core_vm.ram)
    unload_all(core_vm)


@pytest.fixture(scope="module")
def nooom_guest(boot):
    return boot("nooom", devices=NOOOM_DEVICES)


@pytest.fixture
def nooom_vm(nooom_guest):
    """deflate-on-oom off: ballooned memory leaves MemTotal, InflatedTotal."""
    yield nooom_guest
    if nooom_guest.alive:
        nooom_guest.qmp("balloon", value=nooom_guest.ram)
        unload_all(nooom_guest)


TARGETS_MIB = (256, 512, 124, 700, 0)


def inflate_and_deflate(vm, deflate_on_oom):
    base = fresh(vm)
    features = vb_debugfs(vm)["features"].split()
    assert ("deflate_on_oom" in features) == deflate_on_oom
    # The driver is linked to its module in sysfs (5.10 and 6.1 need .driver.owner).
    link = vm.check("readlink /sys/bus/virtio/drivers/virtio_balloon_ext/module").strip()
    assert link.endswith("/module/virtio_balloon_ext"), link
    for mib in TARGETS_MIB:
        balloon_to(vm, mib * MiB)
        check_accounting(vm, mib * 1024, deflate_on_oom, base)
    d = vb_debugfs(vm)
    assert int(d["inflated_pages"]) == int(d["deflated_pages"]) > 0


@pytest.mark.every_kernel
def test_inflate_deflate_deflate_on_oom(oom_vm):
    inflate_and_deflate(oom_vm, deflate_on_oom=True)


def test_inflate_deflate_without_deflate_on_oom(nooom_vm):
    inflate_and_deflate(nooom_vm, deflate_on_oom=False)


LEGACY_BALLOON = ("virtio-balloon-pci,id=balloon0,disable-modern=on,deflate-on-oom=on,"
                  "free-page-reporting=on")


def test_legacy_device_keeps_free_page_reporting(boot):
    """A legacy (pre-1.0) device gets the features its host offers, as in-tree.

    QEMU offers free page reporting (and hinting, which needs an iothread)
    on legacy devices too; the in-tree driver takes them there, and so must
    ours.
    """
    vm = boot("legacy", devices=(LEGACY_BALLOON,))
    try:
        base = fresh(vm)
        dev = vm.check("basename /sys/bus/virtio/drivers/virtio_balloon_ext/virtio*").strip()
        bits = vm.check(f"cat /sys/bus/virtio/devices/{dev}/features").strip()
        assert bits[32] == "0", bits  # VIRTIO_F_VERSION_1 not negotiated: legacy
        features = vb_debugfs(vm)["features"].split()
        assert {"reporting", "deflate_on_oom"} <= set(features), features
        balloon_to(vm, 256 * MiB)
        check_accounting(vm, 256 * 1024, True, base)
        balloon_to(vm, 0)
        check_accounting(vm, 0, True, base)
    finally:
        vm.qmp("balloon", value=vm.ram)
        unload_all(vm)


def wakeup_source(vm) -> str:
    """The sysfs folder of the balloon's wakeup source."""
    out = vm.check("grep -lx virtio_balloon_ext /sys/class/wakeup/*/name").split()
    assert len(out) == 1, out
    return out[0].rsplit("/", 1)[0]


def test_host_request_holds_a_wakeup_source_until_answered(oom_vm):
    """A guest that suspends when idle must not sleep on the host's request (in-tree since 6.9)."""
    fresh(oom_vm)
    ws = wakeup_source(oom_vm)
    events = int(oom_vm.check(f"cat {ws}/event_count"))
    balloon_to(oom_vm, 64 * MiB)
    balloon_to(oom_vm, 0)
    assert int(oom_vm.check(f"cat {ws}/event_count")) >= events + 2
    # Answered: the source lets go (the size work drops it right after `actual`).
    wait_guest(oom_vm, f"[ $(cat {ws}/active_time_ms) = 0 ]", "wakeup source released")
    unload_all(oom_vm)
    assert oom_vm.run("grep -lx virtio_balloon_ext /sys/class/wakeup/*/name")[0] != 0


@pytest.mark.every_kernel
def test_oom_deflates_instead_of_killing(oom_vm):
    fresh(oom_vm)
    balloon_to(oom_vm, 640 * MiB)
    free_kb = meminfo_kb(oom_vm)["MemFree"]
    hog_mib = free_kb // 1024 + 200  # 200 MiB more than is free: only the balloon has it
    rc, out = oom_vm.run(f"hog {hog_mib} 2>/dev/null", timeout=600)
    assert rc == 0 and f"hog: touched {hog_mib} MiB" in out, out
    dmesg = oom_vm.dmesg()
    assert "Killed process" not in dmesg and "invoked oom-killer" not in dmesg, dmesg

    d = vb_debugfs(oom_vm)
    oom_deflated = int(d["oom_deflated_pages"])
    assert oom_deflated * 4 >= 100 * 1024, d
    # The host sees the balloon shrink, and every place agrees with it.
    actual = oom_vm.qmp("query-balloon")["actual"]
    ballooned_kb = (oom_vm.ram - actual) // 1024
    assert ballooned_kb == 640 * 1024 - oom_deflated * 4
    assert int(d["actual_kb"]) == ballooned_kb
    assert meminfo_kb(oom_vm)["InflatedFree"] == ballooned_kb
    # What happened, in the next show_mem() report: the host's inflation to
    # 640 MiB, then this device's OOM deflation (and perhaps, once the
    # pause is over, a re-inflation towards the host's target).
    oom_vm.check("dmesg -c >/dev/null; echo m > /proc/sysrq-trigger")
    history = re.search(HISTORY, oom_vm.dmesg())
    assert history and re.search(rf"{SOURCE} -\d+ (kB|MiB) oom [\d.]+ s ago, "
                                 rf"{SOURCE} \+640 MiB host ", history.group(1)), oom_vm.dmesg()


def qemu_rss_mib(vm) -> int:
    status = open(f"/proc/{vm.proc.pid}/status").read()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) // 1024


@pytest.mark.every_kernel
def test_free_page_reporting_returns_memory_to_host(oom_vm):
    fresh(oom_vm)
    assert "reporting" in vb_debugfs(oom_vm)["features"].split()
    reported_before = int(vb_debugfs(oom_vm)["reported_pages"])
    oom_vm.check("hog 512 2>/dev/null")  # touch 512 MiB, then free it on exit
    peak = qemu_rss_mib(oom_vm)
    deadline = time.monotonic() + 60
    while qemu_rss_mib(oom_vm) > peak - 256 and time.monotonic() < deadline:
        time.sleep(1)
    rss = qemu_rss_mib(oom_vm)
    reported = int(vb_debugfs(oom_vm)["reported_pages"]) - reported_before
    assert rss <= peak - 256, f"QEMU RSS {peak} MiB -> {rss} MiB; {reported} pages reported"
    assert reported * 4096 >= 256 * MiB


def compaction_migrates_balloon_pages(vm, deflate_on_oom):
    """compact_memory moves balloon pages into partly free pageblocks above them.

    Compaction moves pages up from the zone's bottom, only into pageblocks
    that are partly used, and stops where its two scanners meet. Where
    inflate/deflate rounds leave the balloon's pages is chance: at 6d68d3d
    half the runs on 5.10 moved nothing. So the layout is made: a hog takes
    nearly all free memory and gives every other page back; the balloon
    inflates into those holes, in every pageblock, the lowest included; the
    hog exits. Every block the hog had is then half balloon, half free.
    """
    base = fresh(vm)
    free_mib = meminfo_kb(vm)["MemFree"] // 1024
    # A quarter of free memory stays spare: 64 MiB was too little on 6.1-debug,
    # where the hog's 1179 MiB got the shell OOM-killed.
    hog_mib = free_mib * 3 // 4
    ballooned = ((hog_mib // 2) - 16) * MiB  # fits in the holes and the spare
    start_hog(vm, f"--holes {hog_mib} -1", "holes in")
    try:
        balloon_to(vm, ballooned)
    finally:
        stop_hogs(vm)
    before = vb_debugfs(vm)
    vmstat_before = vmstat(vm, "balloon_migrate")
    vm.check("echo 1 > /proc/sys/vm/compact_memory", timeout=300)
    after = vb_debugfs(vm)
    migrated = int(after["migrated_pages"]) - int(before["migrated_pages"])
    assert migrated > 0, f"compaction migrated no balloon page: {after}"
    assert vmstat(vm, "balloon_migrate") - vmstat_before == migrated
    # The balloon holds what the host asked for, in every place; without
    # deflate-on-oom MemTotal stays short by it, to the kB.
    assert vm.qmp("query-balloon")["actual"] == vm.ram - ballooned
    assert after["actual_kb"] == before["actual_kb"] == str(ballooned // 1024)
    check_accounting(vm, ballooned // 1024, deflate_on_oom, base)
    # The migrated pages deflate like any other.
    balloon_to(vm, 0)
    check_accounting(vm, 0, deflate_on_oom, base)


@pytest.mark.every_kernel
def test_compaction_migrates_balloon_pages_and_keeps_accounting(oom_vm):
    compaction_migrates_balloon_pages(oom_vm, deflate_on_oom=True)


def test_compaction_keeps_managed_pages_without_deflate_on_oom(nooom_vm):
    """The path that moves a page's managed count along with it, when zones differ."""
    compaction_migrates_balloon_pages(nooom_vm, deflate_on_oom=False)


def test_stats_reach_host_and_legacy_param_limits_tags(oom_vm):
    fresh(oom_vm)
    param = "/sys/module/virtio_balloon_ext/parameters/legacy_stats"
    stats_polling(oom_vm, 1)
    try:
        answer = next_guest_stats(oom_vm, 0)
        stats = answer["stats"]
        # QEMU 7.2 knows tags 0-9 and shows (u64)-1 for a tag the guest never sent.
        assert not missing_stats(stats, STAT_NAMES), stats
        assert stats["stat-total-memory"] == meminfo_kb(oom_vm)["MemTotal"] * 1024
        assert 0 < stats["stat-free-memory"] <= stats["stat-total-memory"]
        assert stats["stat-minor-faults"] > 0
        assert vb_debugfs(oom_vm)["stats_tags_sent"] == "16"

        oom_vm.check(f"echo 1 > {param}")
        answer = next_guest_stats(oom_vm, next_guest_stats(oom_vm, answer["last-update"])
                                  ["last-update"])
        assert vb_debugfs(oom_vm)["stats_tags_sent"] == "10"
        assert not missing_stats(answer["stats"], STAT_NAMES), answer

        oom_vm.check(f"echo 0 > {param}")
        next_guest_stats(oom_vm, next_guest_stats(oom_vm, answer["last-update"])["last-update"])
        assert vb_debugfs(oom_vm)["stats_tags_sent"] == "16"
    finally:
        oom_vm.check(f"echo 0 > {param}")
        stats_polling(oom_vm, 0)


def released_everything(vm, base_memtotal_kb):
    meminfo = meminfo_kb(vm)
    assert (meminfo["InflatedTotal"], meminfo["InflatedFree"]) == (0, 0)
    assert meminfo["MemTotal"] == base_memtotal_kb
    assert vm.check("cat /sys/kernel/balloon/inflated_total_kb "
                    "/sys/kernel/balloon/inflated_free_kb").split() == ["0", "0"]
    # The host got every page back too.
    assert vm.qmp("query-balloon")["actual"] == vm.ram


def test_unbind_and_rebind_while_inflated(oom_vm):
    base = fresh(oom_vm)
    balloon_to(oom_vm, 256 * MiB)
    dev = oom_vm.check("basename /sys/bus/virtio/drivers/virtio_balloon_ext/virtio*").strip()
    oom_vm.check(f"echo {dev} > /sys/bus/virtio/drivers/virtio_balloon_ext/unbind")
    released_everything(oom_vm, base)
    oom_vm.check(f"test ! -e {DEBUGFS}")
    # Bound again, the driver inflates back to the host's unchanged target.
    oom_vm.check(f"echo {dev} > /sys/bus/virtio/drivers/virtio_balloon_ext/bind")
    wait_actual(oom_vm, oom_vm.ram - 256 * MiB)
    check_accounting(oom_vm, 256 * 1024, True, base)


@pytest.mark.every_kernel
def test_unload_while_inflated(oom_vm):
    base = fresh(oom_vm)
    balloon_to(oom_vm, 300 * MiB)
    oom_vm.check("rmmod virtio_balloon_ext")
    released_everything(oom_vm, base)
    assert "balloon emptied, device released" in oom_vm.dmesg()


def test_unload_while_inflated_without_deflate_on_oom(nooom_vm):
    base = fresh(nooom_vm)
    balloon_to(nooom_vm, 300 * MiB)
    assert meminfo_kb(nooom_vm)["MemTotal"] == base - 300 * 1024
    nooom_vm.check("rmmod virtio_balloon_ext")
    released_everything(nooom_vm, base)


def freeze_and_restore(vm, deflate_on_oom):
    """pm_test=devices runs every driver's freeze and restore without sleeping."""
    base = fresh(vm)
    balloon_to(vm, 200 * MiB)
    vm.check("echo devices > /sys/power/pm_test && echo freeze > /sys/power/state", timeout=120)
    vm.check("echo none > /sys/power/pm_test")
    # Freeze emptied the balloon; restore inflated it back to the host's target.
    wait_actual(vm, vm.ram - 200 * MiB)
    check_accounting(vm, 200 * 1024, deflate_on_oom, base)
    assert int(vb_debugfs(vm)["deflated_pages"]) >= 200 * 256


def test_freeze_and_restore(nooom_vm):
    freeze_and_restore(nooom_vm, deflate_on_oom=False)


def test_freeze_and_restore_with_reporting_and_oom_notifier(oom_vm):
    freeze_and_restore(oom_vm, deflate_on_oom=True)
    # Page reporting and the OOM notifier were let go for the freeze and came back.
    reported = int(vb_debugfs(oom_vm)["reported_pages"])
    oom_vm.check("hog 300 2>/dev/null")
    wait_guest(oom_vm, f"[ $(sed -n 's/^reported_pages: //p' {DEBUGFS}) -gt {reported} ]",
               "free page reporting after restore")
    # 100 MiB more than is free: only the 200 MiB balloon has it.
    oom_vm.check(f"hog {hog_past_free(oom_vm, 100)} 2>/dev/null", timeout=600)
    assert int(vb_debugfs(oom_vm)["oom_deflated_pages"]) > 0
    assert "Killed process" not in oom_vm.dmesg()


def test_hot_unplug_while_inflated_then_hotplug(nooom_vm):
    base = fresh(nooom_vm)
    balloon_to(nooom_vm, 256 * MiB)
    unplug(nooom_vm, "balloon0")
    meminfo = meminfo_kb(nooom_vm)
    assert (meminfo["InflatedTotal"], meminfo["InflatedFree"]) == (0, 0)
    assert meminfo["MemTotal"] == base
    nooom_vm.check(f"test ! -e {DEBUGFS}")

    # A new balloon plugged into the running guest binds to the loaded driver.
    nooom_vm.qmp("device_add", driver="virtio-balloon-pci", id="balloon0", bus="rp1",
                 **{"deflate-on-oom": False})
    wait_guest(nooom_vm, f"test -e {DEBUGFS}", "hot-plugged balloon bound")
    balloon_to(nooom_vm, 128 * MiB)
    check_accounting(nooom_vm, 128 * 1024, False, base)


@pytest.fixture(scope="module")
def hint_vm(boot):
    """page_poison=1, so PAGE_POISON is kept; the balloon is hot-added later with an iothread."""
    vm = boot("hint", devices=("pcie-root-port,id=rp1,chassis=1,slot=1",), append="page_poison=1")
    vm.qmp("object-add", **{"qom-type": "iothread", "id": "io1"})
    load_driver(vm, device=False)
    vm.qmp("device_add", driver="virtio-balloon-pci", id="balloon0", bus="rp1", iothread="io1",
           **{"free-page-hint": True, "free-page-reporting": True, "deflate-on-oom": True})
    wait_guest(vm, f"test -e {DEBUGFS}", "hot-added balloon bound")
    return vm


def wait_migration(vm, timeout=300):
    deadline = time.monotonic() + timeout
    while (status := vm.qmp("query-migrate").get("status")) not in ("completed", "failed"):
        assert time.monotonic() < deadline, f"migration still {status}"
        time.sleep(0.5)
    return status


POISON = "0xaaaaaaaa"  # PAGE_POISON's pattern, as the device's 32-bit poison_val


def test_page_poison_value_reaches_the_host_and_survives_restore(hint_vm):
    """The host holds the pattern freed pages carry, so reported pages come back with it."""
    features = vb_debugfs(hint_vm)["features"].split()
    assert {"page_poison", "reporting", "free_page_hint"} <= set(features), features
    assert vb_debugfs(hint_vm)["poison_val"] == POISON
    # A freeze resets the device; restore must tell the host again.
    hint_vm.check("echo devices > /sys/power/pm_test && echo freeze > /sys/power/state",
                  timeout=120)
    hint_vm.check("echo none > /sys/power/pm_test")
    assert vb_debugfs(hint_vm)["poison_val"] == POISON


def test_free_page_hints_during_migration_then_returned(hint_vm):
    before = int(vb_debugfs(hint_vm)["hinted_blocks"])
    hint_vm.qmp("migrate", uri="exec:cat > /dev/null")
    assert wait_migration(hint_vm) == "completed"
    hint_vm.qmp("cont")
    d = vb_debugfs(hint_vm)
    assert int(d["hinted_blocks"]) > before, d
    # The host said done when migration completed: every block is back.
    wait_guest(hint_vm, f"grep -q '^hint_blocks_held: 0$' {DEBUGFS}", "hint blocks returned")
    free_kb = meminfo_kb(hint_vm)["MemFree"]
    assert free_kb > 512 * 1024, free_kb


@pytest.mark.kernel_log_expects(r"invoked oom-killer",
                                r"Kernel panic - not syncing: sysrq triggered crash")
def test_oom_and_panic_reports_tell_what_the_balloon_did(boot):
    """After a deflate-on-OOM, a real OOM kill and a panic print the balloon's history.

    Its own guest, since the panic ends it.
    """
    vm = boot("history-panic", devices=("virtio-balloon-pci,id=balloon0,deflate-on-oom=on",))
    fresh(vm)
    balloon_to(vm, 256 * MiB)
    rc, out = vm.run(f"hog {hog_past_free(vm, 100)} 2>/dev/null", timeout=600)
    assert rc == 0, out
    assert int(vb_debugfs(vm)["oom_deflated_pages"]) > 0
    # A real OOM: the notifier gives back the rest, then the killer reports.
    vm.check("dmesg -c >/dev/null")
    rc, out = vm.run("hog 8192 2>/dev/null", timeout=600)
    assert rc != 0, out
    dmesg = vm.dmesg()
    report = dmesg[dmesg.index("invoked oom-killer"):dmesg.index("Out of memory: Killed process")]
    lines = report.splitlines()
    at = next(n for n, line in enumerate(lines) if "Balloon InflatedTotal:" in line)
    history = re.search(HISTORY, lines[at + 1])
    assert history, lines[at:at + 2]
    # The killer came when the notifier had nothing left to give back.
    assert re.match(rf"{SOURCE} -\d+ (kB|MiB) oom [\d.]+ s ago", history.group(1)), \
        history.group(1)

    vm.check("if [ -e /proc/sys/kernel/panic_sys_info ]; then "
             "echo mem > /proc/sys/kernel/panic_sys_info; "
             "else echo 34 > /proc/sys/kernel/panic_print; fi")
    vm.check("echo 7 > /proc/sys/kernel/printk")
    with pytest.raises(QemuExited):
        vm.run("echo c > /proc/sysrq-trigger")
    console = vm.console_text()
    after_panic = console[console.index("Kernel panic - not syncing: sysrq triggered crash"):]
    assert re.search(rf"Balloon recent: {SOURCE} -\d+ (kB|MiB) oom ", after_panic), after_panic
