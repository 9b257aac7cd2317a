"""tools/balloon-ext moves a live, inflated balloon between the in-tree
virtio_balloon and virtio_balloon_ext and back, by sysfs unbind and bind.

Each test starts from what a stock boot gives: the in-tree driver bound and
holding the 128 MiB the host asked for, our modules not loaded. The guest
binds drivers around, so it boots alone ("takeover").
"""
import subprocess
import time

import pytest

from harness.guest import REPO
from virtio_guest import MiB, device, driver, wait_actual

HELD = 128 * MiB  # what the in-tree driver inflates before the takeover
BALLOONED_KB = HELD // 1024
DEVICE = "virtio-balloon-pci,id=balloon0,deflate-on-oom=on"
TOOL = REPO / "tools" / "balloon-ext"
DRIVERS = "/sys/bus/virtio/drivers"
VB_DEBUGFS = "/sys/kernel/debug/virtio-balloon"
FREE_KB = "/sys/kernel/balloon/inflated_free_kb"
# What a test guest passes so takeover finds the modules without modprobe.
TAKEOVER = "BALLOON_EXT_MODULE_DIR=/ext balloon-ext takeover"


def target(vm) -> int:
    """The guest size the host asks for (QMP `balloon` takes that, not the balloon's)."""
    return vm.ram - HELD


def wait_for(what, probe, timeout=120):
    """Poll probe() until it returns a true value; fail with its last answer."""
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout} s: {value!r}")
        time.sleep(0.2)
    return value


def qmp_actual(vm) -> int:
    return vm.qmp("query-balloon")["actual"]


def loaded(vm, module) -> bool:
    return vm.run(f"test -d /sys/module/{module}")[0] == 0


def inflated_free_kb(vm) -> str:
    return vm.check(f"cat {FREE_KB}").strip()


def balloon_events(vm) -> tuple[int, int]:
    """Pages any balloon driver has put in (inflate) and taken out (deflate), ever."""
    out = vm.check("grep -E '^balloon_(inflate|deflate) ' /proc/vmstat")
    counts = dict(line.split() for line in out.splitlines())
    return int(counts["balloon_inflate"]), int(counts["balloon_deflate"])


@pytest.fixture(scope="module")
def guest(boot):
    vm = boot("takeover", devices=(DEVICE,))
    vm.write_file("/bin/balloon-ext", TOOL.read_bytes())
    vm.check("chmod 755 /bin/balloon-ext")
    return vm


@pytest.fixture
def vm(guest):
    """The in-tree driver bound and inflated to target(); ours unloaded; dmesg empty."""
    dev = device(guest)
    if driver(guest) == "virtio_balloon_ext":
        guest.check(f"echo {dev} > {DRIVERS}/virtio_balloon_ext/unbind")
    guest.run("rmmod virtio_balloon_ext; rmmod balloon_core")
    assert not loaded(guest, "balloon_core")
    guest.check("modprobe virtio_balloon")
    if driver(guest) == "none":
        guest.check(f"echo {dev} > {DRIVERS}/virtio_balloon/bind")
    assert driver(guest) == "virtio_balloon"
    guest.qmp("balloon", value=target(guest))
    wait_actual(guest, target(guest))
    guest.check("dmesg -c >/dev/null")
    yield guest
    if guest.alive:
        guest.qmp("balloon", value=guest.ram)


def takeover(vm) -> str:
    out = vm.check(TAKEOVER)
    assert driver(vm) == "virtio_balloon_ext", out
    return out


def check_ours_holds_target(vm):
    """Ours inflated back to the host's target, and says so everywhere."""
    wait_actual(vm, target(vm))
    wait_for("InflatedFree at the target", lambda: inflated_free_kb(vm) == str(BALLOONED_KB))
    assert vm.check(f"head -n 2 {VB_DEBUGFS}").splitlines() == [
        "InflatedTotal: 0 kB", f"InflatedFree: {BALLOONED_KB} kB"]
    assert qmp_actual(vm) == target(vm)


def giveback(vm) -> str:
    out = vm.check("balloon-ext giveback")
    assert driver(vm) == "virtio_balloon", out
    return out


def check_intree_holds_target(vm):
    """Ours let go of everything; the in-tree driver inflated to the target again."""
    assert inflated_free_kb(vm) == "0"
    assert vm.run(f"test -e {VB_DEBUGFS}")[0] != 0
    wait_actual(vm, target(vm))


def test_takeover_moves_inflated_balloon_without_reboot(vm):
    dev = device(vm)
    assert qmp_actual(vm) == target(vm)  # the in-tree driver holds 128 MiB
    assert "InflatedFree" not in vm.check("cat /proc/meminfo")
    inflated, deflated = balloon_events(vm)

    out = takeover(vm)
    assert f"{dev}: moved from virtio_balloon to virtio_balloon_ext" in out
    check_ours_holds_target(vm)
    # The in-tree driver gave back all 128 MiB on unbind; ours took them again.
    pages = BALLOONED_KB // 4
    assert balloon_events(vm) == (inflated + pages, deflated + pages)
    dmesg = vm.dmesg()
    assert f"virtio_balloon_ext {dev}: ballooned memory shows as InflatedFree" in dmesg
    # Unbind and bind only: the in-tree module stays loaded, just without a device.
    assert loaded(vm, "virtio_balloon")
    assert "virtio" not in vm.check(f"ls {DRIVERS}/virtio_balloon")
    status = vm.check("balloon-ext status").splitlines()
    assert status == [f"{dev}: virtio_balloon_ext", "inflated_total_kb: 0",
                      f"inflated_free_kb: {BALLOONED_KB}"]


def test_giveback_returns_device_to_intree_driver(vm):
    takeover(vm)
    check_ours_holds_target(vm)
    vm.check("dmesg -c >/dev/null")

    out = giveback(vm)
    assert f"{device(vm)}: moved from virtio_balloon_ext to virtio_balloon" in out
    assert "balloon emptied, device released" in vm.dmesg()
    check_intree_holds_target(vm)
    assert vm.check("balloon-ext status").splitlines()[0] == f"{device(vm)}: virtio_balloon"


def test_takeover_repeats_and_is_idempotent(vm):
    dev = device(vm)
    takeover(vm)
    check_ours_holds_target(vm)
    giveback(vm)
    check_intree_holds_target(vm)

    takeover(vm)
    check_ours_holds_target(vm)
    vm.check("dmesg -c >/dev/null")
    again = takeover(vm)
    assert f"{dev}: already on virtio_balloon_ext" in again
    assert "moved" not in again
    # Ours kept the device: nothing was emptied or probed again.
    assert "virtio_balloon" not in vm.dmesg()
    check_ours_holds_target(vm)

    giveback(vm)
    assert f"{dev}: already on virtio_balloon" in vm.check("balloon-ext giveback")
    check_intree_holds_target(vm)


def test_takeover_from_no_driver_says_that_loading_ours_bound_it(vm):
    """With the device unbound, loading ours binds it before the tool looks:
    the tool says so, not "already on"."""
    dev = device(vm)
    vm.check(f"echo {dev} > {DRIVERS}/virtio_balloon/unbind")
    assert driver(vm) == "none"
    out = takeover(vm)
    assert f"{dev}: bound to virtio_balloon_ext as it loaded" in out, out
    assert "already on" not in out, out
    check_ours_holds_target(vm)
    giveback(vm)
    check_intree_holds_target(vm)


def test_takeover_without_module_fails_clearly_and_touches_nothing(vm):
    rc, out = vm.run("balloon-ext takeover")
    assert rc == 1, out
    assert "cannot load virtio_balloon_ext" in out and "BALLOON_EXT_MODULE_DIR" in out, out

    rc, out = vm.run("BALLOON_EXT_MODULE_DIR=/nonexistent balloon-ext takeover")
    assert rc == 1, out
    assert "cannot load /nonexistent/balloon_core.ko" in out, out

    # It failed before unbinding: the in-tree driver still holds the balloon.
    assert driver(vm) == "virtio_balloon"
    assert qmp_actual(vm) == target(vm)
    assert not loaded(vm, "virtio_balloon_ext")


@pytest.mark.parametrize("shell", ["dash", "bash --posix", "busybox sh"])
def test_tool_runs_under_each_shell(shell):
    """Help and usage errors on the host, where the tool must run under dash and bash too."""
    def run(*args):
        return subprocess.run([*shell.split(), str(TOOL), *args], capture_output=True,
                              text=True)

    help_ = run("--help")
    assert help_.returncode == 0, help_.stderr
    assert "takeover" in help_.stdout and "Exit status" in help_.stdout
    for args in ((), ("bogus",), ("status", "extra")):
        result = run(*args)
        assert result.returncode == 2 and "Usage:" in result.stderr, (args, result)
