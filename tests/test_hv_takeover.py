"""tools/balloon-ext moves the Hyper-V Dynamic Memory device between the
in-tree hv_balloon and hv_balloon_ext, by sysfs unbind and bind.

The simulated host (tests/hv_host) registers a bus named "vmbus" with one
DM device, as the real vmbus does, so the tool's sysfs writes go through
the driver core exactly as on Hyper-V. Each test starts from a stock boot's
state: the in-tree driver bound and idle. Its module has no exit, so the
guest boots alone ("hv-takeover"). The moves to and from the in-tree driver
run only where it can bind the simulated host: 5.10, 6.1, 6.12 and
6.1-debug. On 7.x vmbus is built in, the in-tree module cannot register
with the simulated bus, and ours is the redirected build (hv_guest.py):
there only the takeover from no driver runs, which the other kernels run
too, from the in-tree driver unbound by hand.
"""
import pytest

import hv_scenarios
from harness.guest import REPO
from harness.hv_host import vmbus_builtin
from hv_guest import IN_TREE_KO, SIM_KO, ask, boot_hv, host, meminfo, offline_pages, wait_settled

pytestmark = pytest.mark.only_kernels("5.10", "6.1", "6.12", "7.x", "6.1-debug")
# Where the in-tree driver can bind the simulated host.
IN_TREE_BINDS = ("5.10", "6.1", "6.12", "6.1-debug")

TOOL = REPO / "tools" / "balloon-ext"
TAKEOVER = "BALLOON_EXT_MODULE_DIR=/ext balloon-ext takeover"
GIVEBACK = "balloon-ext giveback"
DEVICE = "1eccfd72-4b41-45ef-b73a-4a6e44c12924"  # the host's instance GUID
DRIVER_LINK = f"/sys/bus/vmbus/devices/{DEVICE}/driver"


@pytest.fixture(scope="module")
def hv(boot, kernel):
    vm = boot_hv(boot, kernel, config_name="hv-takeover")
    if vm.run("test -e /sys/module/hv_balloon")[0] != 0:
        vm.write_file("/bin/balloon-ext", TOOL.read_bytes())
        vm.check("chmod 755 /bin/balloon-ext")
        vm.check(f"insmod {SIM_KO}")
        if not vmbus_builtin(kernel):
            vm.check(f"insmod {IN_TREE_KO}")
    return vm


def bound(vm) -> str:
    rc, out = vm.run(f"readlink {DRIVER_LINK}")
    return out.strip().rsplit("/", 1)[-1] if rc == 0 else "none"


@pytest.fixture
def guest(hv):
    """In-tree bound, nothing held, before the test; given back to it after."""
    if bound(hv) != "hv_balloon":
        hv.check(GIVEBACK)
    s = wait_settled(hv, "the host idle before the test")
    assert s["host"]["held_pages"] == 0 and bound(hv) == "hv_balloon", s
    yield hv


def tool(vm, command: str) -> tuple[int, str]:
    return vm.run(f"{command} 2>&1")


def balloon(vm, pages: int) -> dict:
    ask(vm, f"balloon {pages}")
    return wait_settled(vm, f"{pages} pages ballooned")


@pytest.mark.only_kernels(*IN_TREE_BINDS)
def test_status_names_the_device_and_its_driver(guest):
    rc, out = tool(guest, "balloon-ext status")
    assert rc == 0, out
    assert f"vmbus {DEVICE}: hv_balloon" in out.splitlines(), out


@pytest.mark.only_kernels(*IN_TREE_BINDS)
def test_takeover_and_giveback_live(guest, kernel):
    total = meminfo(guest)["MemTotal"]
    probes = host(guest)["probes"]
    rc, out = tool(guest, TAKEOVER)
    assert rc == 0, out
    assert f"{DEVICE}: moved from hv_balloon to hv_balloon_ext" in out, out
    if kernel.stock == "5.10":
        assert "cannot tell whether hv_balloon holds ballooned pages" in out, out
    h = host(guest)
    assert bound(guest) == "hv_balloon_ext" and h["driver"] == "hv_balloon_ext", h
    assert h["bound"] == 1 and h["probes"] == probes + 1 and h["version"] == 0x20000, h
    # Ours follows the host: 2048 pages, in every place balloon_core shows.
    s = balloon(guest, 2048)
    ours = hv_scenarios.ours()
    hv_scenarios.check_agree(guest, ours, s, 2048, total)
    # Again: nothing to do.
    rc, out = tool(guest, TAKEOVER)
    assert rc == 0 and f"{DEVICE}: already on hv_balloon_ext" in out, out
    # Back, ballooned: ours gives every page back as it is unbound.
    rc, out = tool(guest, GIVEBACK)
    assert rc == 0 and f"{DEVICE}: moved from hv_balloon_ext to hv_balloon" in out, out
    assert bound(guest) == "hv_balloon"
    assert meminfo(guest)["MemTotal"] == total
    assert offline_pages(guest)["offline-all"] == 0
    assert "hv_balloon_ext: gave back 2048 ballooned pages" in guest.dmesg()
    h = wait_settled(guest, "the in-tree driver bound again")["host"]
    assert h["driver"] == "hv_balloon" and h["bound"] == 1 and h["held_pages"] == 0, h
    # The in-tree driver works after its second probe.
    s = balloon(guest, 1000)
    assert s["host"]["held_pages"] == 1000 and offline_pages(guest)["offline-held"] == 1000, s
    ask(guest, "unballoon 1000")
    wait_settled(guest, "the in-tree driver gave its 1000 pages back")


@pytest.mark.only_kernels("6.1", "6.12", "6.1-debug")
def test_takeover_refused_while_the_in_tree_driver_holds_pages(guest):
    """Its unbind would leave them offline for good: refused, nothing moved."""
    balloon(guest, 1000)
    rc, out = tool(guest, TAKEOVER)
    assert rc == 1, out
    assert "not unbinding hv_balloon: it holds 1000 ballooned pages" in out, out
    assert "takeover incomplete" in out, out
    assert bound(guest) == "hv_balloon" and host(guest)["held_pages"] == 1000
    ask(guest, "unballoon 1000")
    wait_settled(guest, "the in-tree driver gave its 1000 pages back")
    rc, out = tool(guest, TAKEOVER)
    assert rc == 0 and bound(guest) == "hv_balloon_ext", out


@pytest.mark.only_kernels(*IN_TREE_BINDS)
def test_giveback_when_already_given_back(guest):
    rc, out = tool(guest, GIVEBACK)
    assert rc == 0 and f"{DEVICE}: already on hv_balloon" in out, out


def test_takeover_from_no_driver(hv, kernel):
    """A device no driver holds (the in-tree one unbound, or unable to bind):
    takeover loads ours from BALLOON_EXT_MODULE_DIR, and that binds it."""
    # Ours not loaded (an earlier test may have left it loaded and unbound),
    # so that takeover has to load it.
    if hv.run("test -e /sys/module/hv_balloon_ext")[0] == 0:
        hv.check("rmmod hv_balloon_ext")
    if bound(hv) == "hv_balloon":
        assert host(hv)["held_pages"] == 0
        hv.check(f"echo {DEVICE} > /sys/bus/vmbus/drivers/hv_balloon/unbind")
    assert bound(hv) == "none"
    rc, out = tool(hv, "balloon-ext status")
    assert rc == 0 and f"vmbus {DEVICE}: none" in out.splitlines(), out
    total = meminfo(hv)["MemTotal"]
    rc, out = tool(hv, TAKEOVER)
    assert rc == 0, out
    # Loading ours binds it: the driver core probes a driver's unbound devices
    # as it registers, before the tool looks at the device again.
    assert f"{DEVICE}: bound to hv_balloon_ext as it loaded" in out, out
    h = host(hv)
    assert bound(hv) == "hv_balloon_ext" and h["driver"] == "hv_balloon_ext", h
    assert h["bound"] == 1 and h["version"] == 0x20000, h
    s = balloon(hv, 2048)
    hv_scenarios.check_agree(hv, hv_scenarios.ours(), s, 2048, total)
    ask(hv, "unballoon 2048")
    s = wait_settled(hv, "ours gave its 2048 pages back")
    assert s["host"]["held_pages"] == 0 and meminfo(hv)["MemTotal"] == total, s
    if not vmbus_builtin(kernel):
        rc, out = tool(hv, GIVEBACK)
        assert rc == 0 and bound(hv) == "hv_balloon", out
