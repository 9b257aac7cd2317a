"""Hibernation mode: with ACPI S4 offered, both Hyper-V drivers ignore the host.

Where the guest may hibernate, the in-tree hv_balloon turns hot-add off and
ignores balloon, unballoon and hot-add requests (the host may not take pages
a resumed guest would not know it gave); hv_balloon_ext does the same. One
guest with S4 left on, the simulated host fresh for each driver: ours
first, because the in-tree module has no exit. A real suspend to disk and
resume is not exercised: the simulated host calls each driver's suspend and
resume as vmbus's freeze and restore would (tests/hv_host/README).

On 6.1 only: one probe-time branch and two callbacks, the same on every
kernel, and each kernel would need a boot of its own (run by hand on
6.1-debug: KERNELS=6.1-debug pytest test_hv_hibernation.py, 147 s).
"""
import pytest

from hv_guest import IN_TREE_KO, SIM_KO, ask, boot_hv, host, hv_balloon, meminfo, wait_until

pytestmark = pytest.mark.only_kernels("6.1")

DRIVERS = {"ours": ("/ext/hv_balloon_ext.ko", "hv_balloon_ext"),
           "in-tree": (IN_TREE_KO, "hv_balloon")}


@pytest.fixture(scope="module")
def s4(boot, kernel):
    vm = boot_hv(boot, kernel, config_name="hv-s4", s4=True)
    vm.check("insmod /ext/balloon_core.ko")
    return vm


def count(vm, line: str) -> int:
    return vm.dmesg().count(line)


def ignored(vm, command: str, line: str):
    before = count(vm, line)
    ask(vm, command)
    wait_until(vm, lambda s: count(vm, line) > before, f"{command!r} ignored and logged")


@pytest.mark.parametrize("driver", list(DRIVERS))  # in this order: in-tree stays loaded
def test_hibernation_mode_ignores_the_host(s4, driver):
    ko, name = DRIVERS[driver]
    if driver == "in-tree":
        s4.check("rmmod hv_balloon_ext")
        s4.check("rmmod hv_sim_vmbus")
    s4.check(f"insmod {SIM_KO}")
    s4.check(f"insmod {ko}")
    h = wait_until(s4, lambda s: s["host"]["bound"] == 1, f"{name} bound")["host"]
    assert h["driver"] == name and h["caps_accepted"] == 1, h
    total = meminfo(s4)["MemTotal"]

    ignored(s4, "balloon 1000", "Ignore balloon-up request!")
    ignored(s4, "unballoon_range 0x1000 16", "Ignore balloon-down request!")
    ask(s4, f"hot_add {s4.hot_add_pfn:#x} 0x8000")
    s = wait_until(s4, lambda s: not s["host"]["hot_add_pending"], "the hot-add answered")
    h = s["host"]
    assert "Ignore hot-add request!" in s4.dmesg()
    # Nothing added, and result 1: the host is told not to ask again.
    assert h["hot_add_last_count"] == 0 and h["hot_add_last_result"] == 1, h
    assert h["held_pages"] == 0 and h["balloon_got"] == 0, h
    assert s["MemTotal"] == total, (s, total)
    g = hv_balloon(s4)
    assert g["pages_ballooned"] == 0 and g["pages_added"] == 0, g
    if driver == "ours":
        assert s4.check("head -n 1 /sys/kernel/debug/hv-balloon").strip() == "InflatedTotal: 0 kB"
    assert host(s4)["err_unexpected"] == 0

    # Hibernation itself: suspend closes the channel, resume opens it again
    # and negotiates afresh; the driver still ignores the host after it.
    ask(s4, "suspend")
    h = host(s4)
    assert h["suspended"] == 1 and h["pm_result"] == 0 and h["open"] == 0, h
    ask(s4, "resume")
    h = wait_until(s4, lambda s: s["host"]["open"] == 1 and s["host"]["caps_accepted"] == 1,
                   "negotiated again after resume")["host"]
    assert h["suspended"] == 0 and h["pm_result"] == 0 and h["version"] == 0x20000, h
    assert h["version_requests"].count("0x20000/") == 2, h
    ignored(s4, "balloon 1000", "Ignore balloon-up request!")
    assert host(s4)["held_pages"] == 0
    assert hv_balloon(s4)["state"] == "1 (Initialized)"
