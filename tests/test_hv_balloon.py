"""hv_balloon_ext against the simulated Hyper-V Dynamic Memory host (tests/hv_host).

The first of issue 14's driver tests: negotiation, balloon up and down
at several sizes, and unload while ballooned, on 5.10, 6.1 and 6.12,
where hv_sim_vmbus can stand in for hv_vmbus (test_hv_host.py checks that
host against the unmodified in-tree driver). One guest per kernel, its own
boot: the in-tree module can never leave the other guest.

What ours does differently from the in-tree driver, asserted here:
  - MemTotal falls by 4 kB per ballooned page on every kernel, 5.10 too;
  - InflatedTotal is the ballooned amount in every place balloon_core
    shows it, and the hv-balloon debugfs file, on 5.10 too, starts with it;
  - it unloads, giving every page back to the guest (the protocol has no
    message to tell the host, which keeps its count: the channel closes).
Every wait polls both sides until they agree; deadlines only bound a hang.
"""
import pytest

from harness.build import build_static
from harness.guest import REPO
from harness.hv_host import build_hv_sim, in_tree_balloon
from harness.timing import stage
from hv_guest import (HV_BALLOON, ask, boot_hv, host, hv_balloon, load, meminfo, offline_pages,
                      wait_settled)
from virtio_guest import CORE_DEBUGFS, core_lines

pytestmark = pytest.mark.only_kernels("5.10", "6.1", "6.12", "6.1-debug")

OURS_KO = "/ext/hv_balloon_ext.ko"
WIN10 = 0x20000
CAPS = 0x1f  # balloon, hot_add, alignment 7: 128 MiB memory blocks
RING = 20480
RANGES_PER_MESSAGE = 510


@pytest.fixture(scope="module")
def hv_ext(boot, kernel):
    with stage(f"hv_host module {kernel.name}"):
        sim_ko = build_hv_sim(kernel)
    vm = boot_hv(boot, kernel, sim_ko, in_tree_balloon(kernel),
                 build_static(REPO / "tests" / "guest" / "hv-offline.c"), config_name="hv-ext")
    if vm.run("test -e /sys/module/hv_balloon_ext")[0] != 0:
        vm.check("test -e /sys/module/balloon_core || insmod /ext/balloon_core.ko")
        load(vm, OURS_KO)
    return vm


def check_places(vm, pages: int, base_memtotal: int):
    """Every place shows `pages` ballooned as InflatedTotal, and MemTotal lacks them."""
    kb = pages * 4
    assert vm.check(f"head -n 2 {HV_BALLOON}").splitlines() == [
        f"InflatedTotal: {kb} kB", "InflatedFree: 0 kB"]
    assert hv_balloon(vm)["pages_ballooned"] == pages
    assert vm.check(f"head -n 2 {CORE_DEBUGFS}").splitlines() == core_lines(kb, 0)
    assert vm.check("cat /sys/kernel/balloon/inflated_total_kb "
                    "/sys/kernel/balloon/inflated_free_kb").split() == [str(kb), "0"]
    m = meminfo(vm)
    assert (m["InflatedTotal"], m["InflatedFree"]) == (kb, 0), m
    assert m["MemTotal"] == base_memtotal - kb, (m["MemTotal"], base_memtotal, kb)


def test_negotiates_2_0_and_reports_caps(hv_ext):
    h = host(hv_ext)
    assert h["driver"] == "hv_balloon_ext" and h["probe_result"] == 0 and h["bound"] == 1, h
    assert h["version_requests"] == f"{WIN10:#x}/0" and h["version"] == WIN10, h
    assert h["caps"] == CAPS and h["caps_accepted"] == 1, h
    assert h["caps_min_page_cnt"] == 0 and h["caps_max_page_number"] == 2**64 - 1, h
    assert h["send_ring_size"] == h["recv_ring_size"] == RING and h["open"] == 1, h
    assert "hv_balloon_ext: Using Dynamic Memory protocol version 2.0" in hv_ext.dmesg()
    d = hv_balloon(hv_ext)
    assert d["host_version"] == "2.0" and d["state"] == "1 (Initialized)", d
    assert d["page_size"] == 4096, d


def test_balloon_up_and_down_in_every_place(hv_ext):
    vm = hv_ext
    s = wait_settled(vm, "idle before the test")
    assert s["host"]["held_pages"] == 0, s
    total = meminfo(vm)["MemTotal"]
    held = 0
    for pages in (70000, 10240, 1, 333):
        before = host(vm)
        ask(vm, f"balloon {pages}")
        h = wait_settled(vm, f"a balloon request of {pages} pages answered")["host"]
        held += pages
        assert h["balloon_got"] == pages and h["held_pages"] == held, h
        assert h["err_overlap"] == h["err_short"] == h["err_size"] == 0, h
        assert h["err_unexpected"] == 0, h
        assert h["balloon_responses"] > before["balloon_responses"], h
        assert h["balloon_max_ranges"] <= RANGES_PER_MESSAGE, h
        check_places(vm, held, total)
        assert offline_pages(vm) == {"held": held, "offline-held": held, "offline-all": held}
    vm.check("dmesg -c >/dev/null; echo m > /proc/sysrq-trigger")
    assert f"Balloon InflatedTotal:{held * 4}kB InflatedFree:0kB" in vm.dmesg()

    before = host(vm)
    ask(vm, "unballoon 30000 7 1000")
    h = wait_settled(vm, "an unballoon request of 30000 pages answered")["host"]
    held -= 30000
    assert h["held_pages"] == held, h
    # One answer, to the message without more_pages.
    assert h["rx_unballoon_response"] - before["rx_unballoon_response"] == 1, h
    check_places(vm, held, total)
    assert offline_pages(vm) == {"held": held, "offline-held": held, "offline-all": held}
    ask(vm, f"unballoon {held}")
    wait_settled(vm, "the rest given back")
    check_places(vm, 0, total)
    assert offline_pages(vm) == {"held": 0, "offline-held": 0, "offline-all": 0}


def test_unload_while_ballooned_gives_every_page_back(hv_ext):
    vm = hv_ext
    total = meminfo(vm)["MemTotal"]
    ask(vm, "balloon 20000")
    h = wait_settled(vm, "ballooned before the unload")["host"]
    assert h["held_pages"] == 20000, h
    check_places(vm, 20000, total)
    vm.check("rmmod hv_balloon_ext", timeout=300)
    m = meminfo(vm)
    assert m["MemTotal"] == total, (m, total)
    assert (m["InflatedTotal"], m["InflatedFree"]) == (0, 0), m
    assert offline_pages(vm)["offline-all"] == 0
    h = host(vm)
    assert h["bound"] == 0 and h["open"] == 0, h
    assert "hv_balloon_ext: gave back 20000 ballooned pages" in vm.dmesg()
    # The protocol has no message to tell the host, whose count stays (the
    # simulated host keeps it over a new session); the next load binds afresh.
    probes = h["probes"]
    vm.check(f"insmod {OURS_KO} pressure_report_delay=3")
    h = host(vm)  # the simulated bus probes as the driver registers
    assert h["bound"] == 1 and h["probes"] == probes + 1 and h["probe_result"] == 0, h
    assert h["held_pages"] == 20000, h
    assert hv_balloon(vm)["pages_ballooned"] == 0
    assert meminfo(vm)["InflatedTotal"] == 0
