"""hv_balloon_ext against the simulated Hyper-V Dynamic Memory host (tests/hv_host).

One guest per kernel, booted as tests/test_hv_host.py boots it but without
the in-tree driver: hv_sim_vmbus.ko, then /ext/balloon_core.ko and
/ext/hv_balloon_ext.ko, all with insmod. On 7.x, where vmbus is built into
vmlinux, that is the same sources built with their vmbus calls redirected
to the simulated host (tests/hv_host/README); 7.x-bpo runs the tests
marked every_kernel. hv_balloon_ext can be unloaded, so a test that needs the
host to refuse versions reloads the driver. Every wait polls both sides
until they agree; the deadline only bounds a hang.

The scenarios both drivers run are in tests/hv_scenarios.py, where
hv_scenarios.Driver lists how ours differs from the in-tree driver on
purpose: ballooned pages leave MemTotal on 5.10 too, the debugfs file
exists there, starting with balloon_core's two lines, a packet up to the
ring's size is read (and dropped if oversized), info_size is checked.
The tests here are those only ours can run: it unloads, validates what
the host sends, and recovers from a send that fails for good.
"""
import pytest

import hv_scenarios
from hv_guest import (BLOCK_PAGES, DM_INITIALIZED, SIM_DIR, SIM_KO, ask, boot_hv, empty_around,
                      host, hv_balloon, meminfo, offline_pages, wait_settled, wait_until)
from virtio_guest import CORE_DEBUGFS, core_lines

pytestmark = pytest.mark.only_kernels("5.10", "6.1", "6.12", "7.x", "7.x-bpo", "6.1-debug")

EXT_KO = "/ext/hv_balloon_ext.ko"
CORE_KO = "/ext/balloon_core.ko"
WIN10, WIN8, WIN7 = 0x20000, 0x10000, 0x3
PRESSURE_REPORT_DELAY = 3


def load_ext(vm):
    vm.check(f"insmod {EXT_KO} pressure_report_delay={PRESSURE_REPORT_DELAY}")


def unload_ext(vm):
    vm.check("rmmod hv_balloon_ext")


@pytest.fixture(scope="module")
def hv(boot, kernel):
    vm = boot_hv(boot, kernel, config_name="hv-ext")
    if vm.run("test -e /sys/module/hv_sim_vmbus")[0] != 0:
        vm.check(f"insmod {SIM_KO}")
        vm.check(f"insmod {CORE_KO}")
        load_ext(vm)
        vm.base_memtotal = meminfo(vm)["MemTotal"]
    return vm


@pytest.fixture
def driver():
    return hv_scenarios.ours()


@pytest.fixture
def guest(hv):
    yield from empty_around(hv)


def check_accounting(vm, pages: int):
    """balloon_core says `pages` pages in debugfs (its own and the driver's), sysfs and
    /proc/meminfo; MemTotal is down by 4 kB a page from the guest's base."""
    hv_scenarios.check_core(vm, hv_scenarios.ours(), pages)
    total = meminfo(vm)["MemTotal"]
    assert total == vm.base_memtotal - 4 * pages, (total, vm.base_memtotal, pages)


@pytest.mark.every_kernel
def test_probe_negotiates_2_0(hv):
    h = host(hv)
    assert h["version_requests"].startswith("0x20000/"), h
    assert h["version"] == WIN10 and h["caps_accepted"] == 1, h
    # balloon, hot_add, alignment 7 (128 MiB memory blocks)
    assert h["caps"] == 0x1f and h["caps_min_page_cnt"] == 0, h
    assert h["caps_max_page_number"] == 2**64 - 1, h
    assert h["driver"] == "hv_balloon_ext" and h["probe_result"] == 0 and h["open"] == 1, h
    assert h["bound"] == 1, h
    assert "Using Dynamic Memory protocol version 2.0" in hv.dmesg()
    g = hv_balloon(hv)
    assert g is not None  # on 5.10 too
    assert g["host_version"] == "2.0" and g["page_size"] == 4096, g
    assert g["state"] == "1 (Initialized)", g
    assert g["pages_ballooned"] == 0, g
    check_accounting(hv, 0)


@pytest.mark.every_kernel
def test_balloon_up_and_down(guest, driver):
    hv_scenarios.balloon_up_and_down(guest, driver)


def test_send_eagain_is_retried(guest, driver):
    hv_scenarios.send_eagain_is_retried(guest, driver)


def test_info_message(guest, driver):
    hv_scenarios.info_message(guest, driver)


def reload_ext(vm):
    unload_ext(vm)
    load_ext(vm)


def test_negotiation_falls_back_when_the_host_refuses(guest):
    unload_ext(guest)
    ask(guest, f"refuse_version {WIN10:#x}")
    try:
        load_ext(guest)
        h = wait_until(guest, lambda s: s["host"]["bound"] == 1, "bound on 1.0")["host"]
        assert h["version_requests"] == "0x20000/0 0x10000/0", h
        assert h["version"] == WIN8 and h["caps_accepted"] == 1, h
        assert hv_balloon(guest)["host_version"] == "1.0"
    finally:
        ask(guest, f"accept_version {WIN10:#x}")
    reload_ext(guest)
    h = wait_until(guest, lambda s: s["host"]["bound"] == 1, "bound on 2.0 again")["host"]
    assert h["version"] == WIN10, h
    check_accounting(guest, 0)


def test_probe_fails_when_the_host_refuses(guest):
    """Every version refused, then the caps refused: the probe fails, insmod does not
    (the driver stays registered, unbound); accepted again, it binds on 2.0."""
    eproto = -71
    unload_ext(guest)
    try:
        for v in (WIN10, WIN8, WIN7):
            ask(guest, f"refuse_version {v:#x}")
        load_ext(guest)
        h = host(guest)
        assert h["version_requests"] == "0x20000/0 0x10000/0 0x3/1", h
        assert h["probe_result"] == eproto and h["bound"] == 0 and h["open"] == 0, h
        unload_ext(guest)
        for v in (WIN10, WIN8, WIN7):
            ask(guest, f"accept_version {v:#x}")
        ask(guest, "caps refuse")
        load_ext(guest)
        h = host(guest)
        assert h["caps_accepted"] == 0 and h["probe_result"] == eproto, h
        assert h["bound"] == 0 and h["open"] == 0, h
        assert "Capabilities not accepted by host" in guest.dmesg()
        unload_ext(guest)
    finally:
        for v in (WIN10, WIN8, WIN7):
            ask(guest, f"accept_version {v:#x}")
        ask(guest, "caps accept")
    load_ext(guest)
    h = wait_until(guest, lambda s: s["host"]["bound"] == 1, "bound on 2.0 again")["host"]
    assert h["version"] == WIN10 and h["open"] == 1, h
    check_accounting(guest, 0)


def test_malformed_host_messages_are_dropped(guest, driver):
    """The scenario both drivers survive, then what only ours is sent: short and
    out-of-order messages, an inconsistent info message, and a range it does
    not hold."""
    hv_scenarios.malformed_messages(guest, driver)

    def dropped() -> int:
        return guest.dmesg().count("dropped host message")
    for raw in ("raw 2 16", "raw 6 8", "raw 6 16 8", "info 262144 100"):
        before = dropped()
        ask(guest, raw)
        wait_until(guest, lambda s: dropped() > before, f"{raw!r} dropped and logged")
    ask(guest, "balloon 1000")
    s = wait_settled(guest, "a balloon request after malformed messages")
    assert s["host"]["held_pages"] == s["guest"]["pages_ballooned"] == 1000, s
    check_accounting(guest, 1000)
    # A range of pages the guest does not hold (the first of the host's minus one
    # block below it): logged, ignored.
    ask(guest, "unballoon_range 0x1000 16")
    wait_until(guest, lambda s: "pages we do not hold, ignored" in guest.dmesg(),
               "an unballoon of pages not held logged")
    s = wait_settled(guest, "after the bad unballoon range")
    assert s["guest"]["pages_ballooned"] == 1000, s
    check_accounting(guest, 1000)
    # Held and unheld pages in one 2 MiB block: 4 pages out of the middle of a
    # held 2 MiB range first, then 16 around the hole. The 12 held ones are
    # given back, the 4 others logged, freeing going on after the hole.
    start = next(int(a, 16) for a, n in (line.split() for line in
                 guest.check(f"cat {SIM_DIR}/ranges").splitlines()) if int(n, 16) >= 512)
    ask(guest, f"unballoon_range {start + 100:#x} 4")
    s = wait_settled(guest, "4 pages out of a 2 MiB range")
    assert s["guest"]["pages_ballooned"] == 996, s
    ask(guest, f"unballoon_range {start + 96:#x} 16")
    wait_until(guest, lambda s: f"unballoon range {start + 96:#x}+16: 4 pages we do not "
               "hold, ignored" in guest.dmesg(), "the 4 unheld pages of the 16 logged")
    s = wait_settled(guest, "12 held pages around the hole given back")
    assert s["guest"]["pages_ballooned"] == s["host"]["held_pages"] == 984, s
    check_accounting(guest, 984)


def test_unload_while_ballooned_gives_every_page_back(guest):
    """Both kinds of held page go back: 2 MiB allocations still whole, and one
    split by a range that names part of it, whose other 508 pages are 4 KiB
    pages of their own from then on."""
    ask(guest, "balloon 5000")
    wait_settled(guest, "5000 pages ballooned")
    check_accounting(guest, 5000)
    start = next(int(a, 16) for a, n in (line.split() for line in
                 guest.check(f"cat {SIM_DIR}/ranges").splitlines()) if int(n, 16) >= 512)
    ask(guest, f"unballoon_range {start + 8:#x} 4")
    s = wait_settled(guest, "4 pages out of a whole 2 MiB allocation")
    assert s["guest"]["pages_ballooned"] == s["host"]["held_pages"] == 4996, s
    check_accounting(guest, 4996)
    unload_ext(guest)
    check_accounting_unloaded(guest)
    # The host was told nothing; a new host session starts empty.
    guest.check("rmmod hv_sim_vmbus")
    guest.check(f"insmod {SIM_KO}")
    load_ext(guest)
    wait_settled(guest, "a new session")
    check_accounting(guest, 0)


def check_accounting_unloaded(vm):
    assert vm.check(f"head -n 2 {CORE_DEBUGFS}").splitlines() == core_lines(0, 0)
    m = meminfo(vm)
    assert (m["InflatedTotal"], m["InflatedFree"]) == (0, 0), m
    assert m["MemTotal"] == vm.base_memtotal, (m["MemTotal"], vm.base_memtotal)
    assert offline_pages(vm)["offline-held"] == 0


def test_status_reports_once_a_second(guest, driver):
    hv_scenarios.status_reports_once_a_second(guest, driver)


def test_balloon_stops_at_the_floor(guest, driver):
    hv_scenarios.balloon_stops_at_the_floor(guest, driver)


@pytest.mark.parametrize("region", [False, True], ids=["no-region", "region"])
def test_hot_add(guest, driver, region):
    """Added memory stays after unload, so MemTotal's base moves up."""
    guest.base_memtotal += hv_scenarios.hot_add(guest, driver, region)
    check_accounting(guest, 0)


def test_hot_add_off_answers_permanently(guest):
    """hot_add=0: a hot-add request is answered at once with nothing added and
    result 1 (permanent, so the host stops asking), as in-tree."""
    pfn = guest.hot_add_pfn + 2 * BLOCK_PAGES
    unload_ext(guest)
    try:
        guest.check(f"insmod {EXT_KO} pressure_report_delay={PRESSURE_REPORT_DELAY} hot_add=0")
        wait_until(guest, lambda s: s["host"]["bound"] == 1, "bound with hot_add=0")
        before = host(guest)
        total = meminfo(guest)["MemTotal"]
        ask(guest, f"hot_add {pfn:#x} {BLOCK_PAGES:#x}")
        s = wait_until(guest, lambda s: not s["host"]["hot_add_pending"], "the hot-add answered")
        h = s["host"]
        assert h["hot_add_last_count"] == 0 and h["hot_add_last_result"] == 1, h
        assert h["hot_added_pages"] == before["hot_added_pages"], (before, h)
        assert s["MemTotal"] == total, (s, total)
        assert "Memory hot add failed" in guest.dmesg()
    finally:
        reload_ext(guest)
    wait_until(guest, lambda s: s["host"]["bound"] == 1, "bound again")
    check_accounting(guest, 0)


def test_failed_send_gives_the_pages_back(guest):
    """A balloon response that cannot be sent (the ring stays full past every
    retry): its pages come back, the accounting says so, the driver is idle
    again and the next request works. In-tree frees the pages too but leaves
    its state at Ballooning."""
    ask(guest, "eagain 1000000")
    try:
        ask(guest, "balloon 2048")
        wait_until(guest, lambda s: "sending a balloon response failed (-11)" in guest.dmesg(),
                   "the failed send logged")
    finally:
        ask(guest, "eagain 0")
    s = wait_until(guest, lambda s: s["guest"]["state"].startswith(f"{DM_INITIALIZED} "),
                   "the driver idle again")
    assert s["host"]["held_pages"] == 0 and s["guest"]["pages_ballooned"] == 0, s
    check_accounting(guest, 0)
    assert offline_pages(guest)["offline-all"] == 0
    ask(guest, "balloon 2048")
    s = wait_settled(guest, "a balloon request after the failed send")
    assert s["host"]["held_pages"] == s["guest"]["pages_ballooned"] == 2048, s
    check_accounting(guest, 2048)


def test_drop_lines_are_rate_limited(guest):
    """A host flooding bad messages gets at most the printk rate limit's burst
    (10 lines per 5 s) of them in the log, counted in guest time."""
    floods = 200  # written by the shell itself (echo is a builtin): no fork each
    def dropped() -> int:
        return guest.dmesg().count("dropped host message: Unhandled message: type: 99")
    before, sent = dropped(), host(guest)["tx_other"]
    start = float(guest.check("cut -d' ' -f1 /proc/uptime"))
    guest.check(f"for i in $(seq {floods}); do echo 'raw 99 16' > {SIM_DIR}/request; done")
    wait_until(guest, lambda s: s["host"]["queued"] == 0, "the flood delivered")
    elapsed = float(guest.check("cut -d' ' -f1 /proc/uptime")) - start
    assert host(guest)["tx_other"] - sent == floods
    lines = dropped() - before
    windows = int(elapsed // 5) + 2  # the 5 s intervals the flood can touch
    assert 1 <= lines <= 10 * windows, (lines, elapsed)


def test_host_and_guest_agree_at_the_end(hv, driver):
    hv_scenarios.host_and_guest_agree_at_the_end(hv, driver)
