"""The simulated Hyper-V Dynamic Memory host (tests/hv_host) against the unmodified in-tree hv_balloon.

One guest per kernel (tests/hv_guest.py) loads hv_sim_vmbus.ko, built for
its ABI with CRCs that match Debian's hv_vmbus (harness/hv_host.py), and
then the kernel's own hv_balloon.ko. The in-tree module has no exit, so it
is loaded once per boot; its probe is made to fail twice (every version
refused, then the capabilities), and the simulated bus probes it again, as
a sysfs bind would. The third time the host refuses 2.0 and 1.0: the
negotiation falls back through every version, and the rest runs on 0.3,
which changes nothing else in the driver. The tests run in order on that
guest. Every wait polls both sides until they agree, with a deadline that
only bounds a hang; timing is asserted in guest time with generous bounds.

Only 5.10, 6.1 and 6.12, and 6.1-debug (the module is built against the
debug tree and checked against its own CRCs): on 7.x vmbus is built into
vmlinux, so no module can export its functions (the tests are deselected
there, not skipped).

Known differences of the in-tree driver, asserted as such:
- 5.10 has no hv-balloon debugfs file and does not take ballooned pages out
  of MemTotal; a failed probe leaves its memory notifier registered, so it
  is not probed again (NO_REPROBE) and the failed probes go untested there;
- an unballoon request's ranges are not validated (so no bad ranges are
  sent to it here: it would free pages it does not own).
"""
import re

import pytest

from hv_guest import (BLOCK_PAGES, IN_TREE_KO, ask, boot_hv, empty_around, host, hv_balloon,
                      load, memory_block_state, meminfo, offline_pages, request, wait_settled,
                      wait_until)

pytestmark = pytest.mark.only_kernels("5.10", "6.1", "6.12", "6.1-debug")

WIN10, WIN8, WIN7 = 0x20000, 0x10000, 0x3
REFUSED = (WIN10, WIN8)
PRESSURE_REPORT_DELAY = 3
# Caps the in-tree driver reports: balloon, hot_add, alignment 7 (128 MiB blocks).
CAPS = 0x1f
RING = 20480  # 16 KiB of data plus the 4 KiB header, both directions
# 5.10's probe returns on a failed negotiation without unregistering its
# memory notifier (later kernels do): probing it again registers the
# notifier twice, a WARN in notifier_chain_register. So 5.10 is probed once.
NO_REPROBE = ("5.10",)
RANGES_PER_MESSAGE = 510  # (4096 - 16) / 8
MAX_RANGE_PAGES = 2**24 - 1  # a range's 24-bit page count


@pytest.fixture(scope="module")
def hv(boot, kernel):
    vm = boot_hv(boot, kernel)
    if vm.run("test -e /sys/module/hv_balloon")[0] != 0 and kernel.stock in NO_REPROBE:
        load(vm, IN_TREE_KO, refuse_versions=REFUSED,
             pressure_report_delay=PRESSURE_REPORT_DELAY)
        vm.failed_probes = {}
        vm.loaded_ns = host(vm)["now_ns"]
    elif vm.run("test -e /sys/module/hv_balloon")[0] != 0:
        # Every version refused: the probe fails. Then 0.3 accepted but the
        # caps refused: it fails again. Then the caps accepted: bound, on 0.3.
        # The in-tree module loads once; the simulated bus probes it again.
        load(vm, IN_TREE_KO, refuse_versions=REFUSED + (WIN7,),
             pressure_report_delay=PRESSURE_REPORT_DELAY)
        vm.failed_probes = {"versions refused": host(vm)}
        ask(vm, f"accept_version {WIN7:#x}")
        ask(vm, "caps refuse")
        rc, out = request(vm, "reprobe")
        assert rc != 0, out
        vm.failed_probes["caps refused"] = host(vm)
        ask(vm, "caps accept")
        ask(vm, "reprobe")
        vm.loaded_ns = host(vm)["now_ns"]
    return vm


@pytest.fixture
def guest(hv):
    """hv with nothing ballooned and no request open, before and after."""
    yield from empty_around(hv)


def memtotal(vm) -> int:
    return meminfo(vm)["MemTotal"]


@pytest.mark.only_kernels("6.1", "6.12", "6.1-debug")
def test_probe_fails_when_the_host_refuses(hv):
    """All versions refused: -EPROTO after 0.3; caps refused: -EPROTO after the caps."""
    eproto = -71
    h = hv.failed_probes["versions refused"]
    assert h["version_requests"] == "0x20000/0 0x10000/0 0x3/1", h
    assert h["version"] == 0 and h["probe_result"] == eproto and h["bound"] == 0, h
    assert h["rx_caps_report"] == 0 and h["open"] == 0, h
    h = hv.failed_probes["caps refused"]
    assert h["version_requests"] == "0x20000/0 0x10000/0 0x3/1" and h["version"] == WIN7, h
    assert h["caps"] == CAPS and h["caps_accepted"] == 0, h
    assert h["probe_result"] == eproto and h["bound"] == 0 and h["open"] == 0, h
    assert "hv_balloon: Capabilities not accepted by host" in hv.dmesg()


def test_negotiation_falls_back_to_0_3(hv, kernel):
    h = host(hv)
    # 2.0 and 1.0 refused, 0.3 accepted; only the last one says so.
    assert h["version_requests"] == "0x20000/0 0x10000/0 0x3/1", h
    assert h["version"] == WIN7 and h["refused_versions"] == "0x20000 0x10000", h
    assert h["caps"] == CAPS and h["caps_accepted"] == 1, h
    assert h["caps_min_page_cnt"] == 0 and h["caps_max_page_number"] == 2**64 - 1, h
    assert h["driver"] == "hv_balloon" and h["probe_result"] == 0 and h["open"] == 1, h
    probes = 1 + len(hv.failed_probes)
    assert h["bound"] == 1 and h["probes"] == probes, h
    assert h["send_ring_size"] == h["recv_ring_size"] == RING, h
    # 6.1 sets max_pkt_size (the VMBus header fix); 5.10's channel has none.
    assert h["max_pkt_size"] == (0 if kernel.stock == "5.10" else 8192), h
    # Each probe sent three version requests; all but the first sent caps
    # (on 5.10 there is just the one).
    assert h["rx_version_request"] == h["tx_version_response"] == 3 * probes, h
    assert h["rx_caps_report"] == h["tx_caps_response"] == max(1, probes - 1), h
    assert "hv_balloon: Using Dynamic Memory protocol version 0.3" in hv.dmesg()
    guest = hv_balloon(hv)
    if kernel.stock == "5.10":
        assert guest is None  # no debugfs file before 6.0
    else:
        assert guest["host_version"] == "0.3" and guest["page_size"] == 4096, guest
        assert guest["state"] == "1 (Initialized)", guest


def test_status_reports_once_a_second(hv):
    """Reports start after pressure_report_delay, then come about once a second."""
    s = wait_until(hv, lambda s: s["host"]["status_count"] >= 6, "six status reports")
    h = s["host"]
    delay = int(hv.check("cat /sys/module/hv_balloon/parameters/pressure_report_delay"))
    assert delay == 0  # the driver counts its parameter down to 0
    # Guest time: the first report after the delay's worth of (1 s) thread wake-ups.
    assert h["status_first_ns"] - hv.loaded_ns >= (PRESSURE_REPORT_DELAY - 1) * 10**9, h
    rate = (h["status_count"] - 1) / ((h["status_last_ns"] - h["status_first_ns"]) / 1e9)
    assert 0.3 <= rate <= 1.05, (rate, h)
    # Rate-limited to one per HZ after the last; a guest starved by the host lags.
    assert h["status_min_gap_ns"] >= 0.95e9, h
    assert h["rx_status_report"] == h["status_count"], h
    pages = memtotal(hv) // 4
    assert 0 < h["status_num_avail"] <= pages, h
    assert h["status_num_committed"] > 0, h


def test_info_message(hv, kernel):
    ask(hv, "info 262144")
    wait_until(hv, lambda s: "Max. dynamic memory size: 1024 MB" in hv.dmesg(),
               "the info message logged")
    guest = hv_balloon(hv)
    if guest is not None:
        assert guest["max_dynamic_page_count"] == 262144, guest


def balloon(vm, pages: int) -> dict:
    ask(vm, f"balloon {pages}")
    return wait_settled(vm, f"a balloon request of {pages} pages answered")


def unballoon(vm, pages: int, per_message: int = RANGES_PER_MESSAGE,
              per_range: int = MAX_RANGE_PAGES) -> dict:
    ask(vm, f"unballoon {pages} {per_message} {per_range}")
    return wait_settled(vm, f"an unballoon request of {pages} pages answered")


def test_balloon_up_and_down(guest, kernel):
    """Several sizes up, then back down in chained messages; MemTotal to the kB."""
    total = memtotal(guest)
    # 6.1+ takes ballooned pages out of MemTotal; 5.10 does not (known difference).
    per_page_kb = 0 if kernel.stock == "5.10" else 4
    held = 0
    for pages in (70000, 10240, 1, 333):
        before = host(guest)
        s = balloon(guest, pages)
        h = s["host"]
        held += pages
        assert h["balloon_got"] == pages and h["held_pages"] == held, h
        assert h["err_overlap"] == h["err_short"] == h["err_size"] == 0, h
        assert h["err_unexpected"] == 0, h
        responses = h["balloon_responses"] - before["balloon_responses"]
        # 2 MiB first, then 4 KiB: above 512 and not a multiple of it takes two
        # messages at least (below 512 the 2 MiB pass finds nothing and sends nothing).
        assert responses >= (2 if pages > 512 and pages % 512 else 1), h
        assert h["balloon_max_ranges"] <= RANGES_PER_MESSAGE, h
        assert s["MemTotal"] == total - per_page_kb * held, s
        if pages == 70000:
            # The next status reports count the balloon as committed.
            count = h["status_count"]
            h = wait_until(guest, lambda s: s["host"]["status_count"] >= count + 2,
                           "two status reports after the balloon")["host"]
            assert h["status_num_committed"] >= held, h
        # The host's ranges are exactly the guest's offline pages.
        assert offline_pages(guest) == {"held": held, "offline-held": held,
                                        "offline-all": held}
    # Give back part in ranges of 1000 pages, 7 to a message, chained with more_pages.
    before = host(guest)
    s = unballoon(guest, 30000, per_message=7, per_range=1000)
    h = s["host"]
    held -= 30000
    assert h["held_pages"] == held and h["unballoon_pages"] - before["unballoon_pages"] == 30000
    assert h["tx_unballoon_request"] - before["tx_unballoon_request"] >= 5, h
    # The driver answers once, to the message without more_pages.
    assert h["rx_unballoon_response"] - before["rx_unballoon_response"] == 1, h
    assert s["MemTotal"] == total - per_page_kb * held, s
    assert offline_pages(guest) == {"held": held, "offline-held": held, "offline-all": held}
    s = unballoon(guest, held)
    assert s["host"]["held_pages"] == 0 and s["MemTotal"] == total, s
    if s["guest"] is not None:
        assert s["guest"]["pages_ballooned"] == 0, s
    assert offline_pages(guest) == {"held": 0, "offline-held": 0, "offline-all": 0}


def test_send_eagain_is_retried(guest):
    """-EAGAIN from vmbus_sendpacket: the driver waits 20 ms and sends again."""
    returned = host(guest)["eagain_returned"]
    ask(guest, "eagain 3")
    s = balloon(guest, 2048)
    h = s["host"]
    assert h["held_pages"] == 2048 and h["balloon_got"] == 2048, h
    assert h["eagain_returned"] - returned == 3 and h["eagain_left"] == 0, h


def test_floor(guest, kernel):
    """More than the guest can give: the driver stops at its floor."""
    total = memtotal(guest)
    s = balloon(guest, 400000)
    h = s["host"]
    assert 0 < h["held_pages"] < 400000 and h["balloon_got"] == h["held_pages"], h
    assert h["err_overlap"] == 0, h
    held = h["held_pages"]
    assert offline_pages(guest) == {"held": held, "offline-held": held, "offline-all": held}
    assert re.search(r"Balloon request will be partially fulfilled\. "
                     r"(Not enough memory|Balloon floor reached)", guest.dmesg())
    if kernel.stock != "5.10":
        assert s["MemTotal"] == total - 4 * h["held_pages"], s
    # The guest keeps at least the floor's memory: 104 MiB + 1/8 of it, here.
    assert meminfo(guest)["MemAvailable"] >= 100 * 1024, meminfo(guest)


@pytest.mark.parametrize("region", [False, True], ids=["no-region", "region"])
def test_hot_add(guest, region):
    """Hot-add one 128 MiB block above mem=, from a 16- or 24-byte request; it comes online."""
    pfn = guest.hot_add_pfn + (BLOCK_PAGES if region else 0)
    before = host(guest)
    total = memtotal(guest)
    if region:
        ask(guest, f"hot_add_region {pfn:#x} {BLOCK_PAGES:#x} {pfn:#x} {BLOCK_PAGES:#x}")
    else:
        ask(guest, f"hot_add {pfn:#x} {BLOCK_PAGES:#x}")
    s = wait_until(guest, lambda s: not s["host"]["hot_add_pending"]
                   and s["MemTotal"] == total + BLOCK_PAGES * 4,
                   "the hot-added block answered and online")
    h = s["host"]
    assert h["hot_add_last_count"] == BLOCK_PAGES and h["hot_add_last_result"] == 1, h
    assert h["hot_added_pages"] - before["hot_added_pages"] == BLOCK_PAGES, h
    assert memory_block_state(guest, pfn) == "online"
    g = s["guest"]
    if g is not None:
        added = BLOCK_PAGES * (2 if region else 1)
        assert g["pages_added"] == g["pages_onlined"] == added, g
    assert "Memory hot add failed" not in guest.dmesg()


def test_malformed_messages(guest):
    """What the in-tree driver survives: unknown types, hot-remove, oversized, bad info_size.

    Not sent to it: short or out-of-order balloon and version messages and
    bad unballoon ranges, which it does not validate (reference, 6).
    """
    before = host(guest)
    ask(guest, "raw 99 16")           # unknown type
    ask(guest, "raw 13 16")           # MEM_HOT_REMOVE_REQUEST: Linux has no hot-remove
    ask(guest, "raw 12 5000")         # bigger than the driver's 4 KiB buffer: -ENOBUFS
    ask(guest, "info 131072 0")       # info_size 0, data there anyway
    s = wait_until(guest, lambda s: s["host"]["queued"] == 0
                   and "Max. dynamic memory size: 512 MB" in guest.dmesg(),
                   "the malformed messages taken")
    h = s["host"]
    assert h["enobufs"] - before["enobufs"] == 1, h
    assert h["tx_other"] - before["tx_other"] == 1, h
    dmesg = guest.dmesg()
    for kind in (99, 13, 0):  # -ENOBUFS leaves the zeroed buffer: type 0
        assert f"Unhandled message: type: {kind}" in dmesg
    # Still working: a balloon and an unballoon round trip.
    balloon(guest, 512)
    unballoon(guest, 512)


def test_bad_requests_are_refused(hv):
    for command in ("no_such_command 1", "balloon", "balloon x", "balloon 1 2",
                    "caps maybe", "unballoon 1 0", "hot_add 1", "raw 1 0"):
        rc, out = request(hv, command)
        assert rc != 0, (command, out)
    # Nothing is held: nothing to give back.
    rc, _ = request(hv, "unballoon 1")
    assert rc != 0


def test_host_range_set_selftest(hv):
    """The host's set of held ranges finds duplicates and overlaps (the in-tree driver
    never sends any), merges neighbours and splits on removal."""
    ask(hv, "selftest")


def test_host_and_guest_agree_at_the_end(hv):
    s = wait_settled(hv, "the host idle at the end")
    h = s["host"]
    for counter in ("err_short", "err_size", "err_unexpected", "err_overlap", "err_closed",
                    "err_packet_type", "rx_other"):
        assert h[counter] == 0, (counter, h)
    assert h["held_pages"] == 0 and h["rx_balloon_response"] == h["balloon_responses"], h
