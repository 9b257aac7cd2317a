"""hv_balloon_ext against the simulated Hyper-V Dynamic Memory host (tests/hv_host).

One guest per kernel (5.10, 6.1, 6.12; on 7.x vmbus is built into vmlinux,
so the simulated bus cannot stand in and the tests are deselected there),
booted as tests/test_hv_host.py boots it but without the in-tree driver:
hv_sim_vmbus.ko, then /ext/balloon_core.ko and /ext/hv_balloon_ext.ko,
all with insmod. hv_balloon_ext can be unloaded, so a test that needs the
host to refuse versions reloads the driver. Every wait polls both sides
until they agree; the deadline only bounds a hang.

Unlike the in-tree driver, ballooned pages leave MemTotal on 5.10 too, and
the debugfs file exists there, starting with balloon_core's two lines.
"""
import pytest

from hv_guest import (BLOCK_PAGES, DM_INITIALIZED, SIM_DIR, SIM_KO, ask, boot_hv, empty_around,
                      host, hv_balloon, memory_block_state, meminfo, offline_pages, wait_settled, wait_until)
from virtio_guest import CORE_DEBUGFS, core_lines

pytestmark = pytest.mark.only_kernels("5.10", "6.1", "6.12", "6.1-debug")

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
def guest(hv):
    yield from empty_around(hv)


def show_mem_line(vm) -> str:
    """balloon_core's line of a fresh show_mem (sysrq m), the log left as it is."""
    def lines():
        return [line for line in vm.dmesg().splitlines() if "Balloon InflatedTotal:" in line]
    before = len(lines())
    vm.check("echo m > /proc/sysrq-trigger")
    wait_until(vm, lambda s: len(lines()) > before, "show_mem's balloon line")
    return lines()[-1]


def check_accounting(vm, pages: int):
    """balloon_core says `pages` pages in debugfs (its own and the driver's), sysfs and
    /proc/meminfo; MemTotal is down by 4 kB a page."""
    kb = 4 * pages
    first_two = vm.check("head -n 2 /sys/kernel/debug/hv-balloon").splitlines()
    assert first_two == [f"InflatedTotal: {kb} kB", "InflatedFree: 0 kB"], first_two
    assert vm.check(f"head -n 2 {CORE_DEBUGFS}").splitlines() == core_lines(kb, 0)
    assert vm.check("cat /sys/kernel/balloon/inflated_total_kb "
                    "/sys/kernel/balloon/inflated_free_kb").split() == [str(kb), "0"]
    m = meminfo(vm)
    assert (m["InflatedTotal"], m["InflatedFree"]) == (kb, 0), m
    assert m["MemTotal"] == vm.base_memtotal - kb, (m["MemTotal"], vm.base_memtotal, kb)


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


def test_balloon_up_and_down(guest):
    held = 0
    for pages in (70000, 10240, 1, 333):
        ask(guest, f"balloon {pages}")
        s = wait_settled(guest, f"a balloon request of {pages} pages answered")
        held += pages
        h, g = s["host"], s["guest"]
        assert h["balloon_got"] == pages and h["held_pages"] == held, h
        assert g["pages_ballooned"] == held, g
        assert h["err_overlap"] == h["err_short"] == h["err_size"] == 0, h
        assert h["err_unexpected"] == 0, h
        check_accounting(guest, held)
        if pages == 333:
            line = show_mem_line(guest)
            assert f"Balloon InflatedTotal:{4 * held}kB InflatedFree:0kB" in line, line
        off = offline_pages(guest)
        # The host's ranges are exactly the guest's PageOffline pages.
        assert off["held"] == off["offline-held"] == off["offline-all"] == held, off
    for pages in (40000, held - 40000):
        ask(guest, f"unballoon {pages}")
        s = wait_settled(guest, f"an unballoon request of {pages} pages answered")
        held -= pages
        assert s["host"]["held_pages"] == held and s["guest"]["pages_ballooned"] == held, s
        check_accounting(guest, held)
    assert offline_pages(guest)["offline-held"] == 0


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


def test_malformed_host_messages_are_dropped(guest):
    def dropped() -> int:
        return guest.dmesg().count("dropped host message")
    for raw in ("raw 99 16", "raw 2 16", "raw 6 8", "raw 99 5000", "raw 6 16 8",
                "info 262144 100"):
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


def test_unload_while_ballooned_gives_every_page_back(guest):
    ask(guest, "balloon 5000")
    wait_settled(guest, "5000 pages ballooned")
    check_accounting(guest, 5000)
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


def test_status_reports_once_a_second(guest):
    """After pressure_report_delay, about one report a second, in guest time."""
    ask(guest, "reset_status")
    s = wait_until(guest, lambda s: s["host"]["status_count"] >= 6, "six status reports")
    h = s["host"]
    rate = (h["status_count"] - 1) / ((h["status_last_ns"] - h["status_first_ns"]) / 1e9)
    assert 0.3 <= rate <= 1.05, (rate, h)
    assert h["status_min_gap_ns"] >= 0.95e9, h
    pages = meminfo(guest)["MemTotal"] // 4
    assert 0 < h["status_num_avail"] <= pages, h
    # Committed includes the floor.
    assert h["status_num_committed"] >= floor_pages(pages), (h, floor_pages(pages))


def floor_pages(total: int) -> int:
    """status.c's hvb_floor(), in-tree's, of totalram in pages."""
    mb = 256  # pages a MiB
    for limit, base, shift in ((128, 8, 1), (512, 40, 2), (2048, 104, 3), (8192, 232, 4)):
        if total < limit * mb:
            return base * mb + (total >> shift)
    return 488 * mb + (total >> 5)


def test_balloon_stops_at_the_floor(guest):
    """A request for more than the guest has is cut to what it can give above the floor."""
    want = meminfo(guest)["MemTotal"] // 4
    ask(guest, f"balloon {want}")
    s = wait_settled(guest, "a balloon request larger than the guest answered")
    h, g = s["host"], s["guest"]
    assert 0 < h["balloon_got"] < want and h["held_pages"] == g["pages_ballooned"], (h, g)
    assert "Balloon request will be partially fulfilled" in guest.dmesg()
    check_accounting(guest, h["held_pages"])
    # What is left available stays about the floor (of the smaller totalram now).
    m = meminfo(guest)
    assert m["MemAvailable"] // 4 >= 0.9 * floor_pages(m["MemTotal"] // 4), m


@pytest.mark.parametrize("region", [False, True], ids=["no-region", "region"])
def test_hot_add(guest, region):
    """One 128 MiB block above mem=, from a 16- or 24-byte request; it comes online.
    Last: added memory stays after unload, so MemTotal's base moves up."""
    pfn = guest.hot_add_pfn + (BLOCK_PAGES if region else 0)
    before = host(guest)
    g0 = hv_balloon(guest)
    total = meminfo(guest)["MemTotal"]
    if region:
        ask(guest, f"hot_add_region {pfn:#x} {BLOCK_PAGES:#x} {pfn:#x} {BLOCK_PAGES:#x}")
    else:
        ask(guest, f"hot_add {pfn:#x} {BLOCK_PAGES:#x}")
    s = wait_until(guest, lambda s: not s["host"]["hot_add_pending"]
                   and s["MemTotal"] == total + BLOCK_PAGES * 4,
                   "the hot-added block answered and online")
    guest.base_memtotal += BLOCK_PAGES * 4
    h, g = s["host"], s["guest"]
    assert h["hot_add_last_count"] == BLOCK_PAGES and h["hot_add_last_result"] == 1, h
    assert h["hot_added_pages"] - before["hot_added_pages"] == BLOCK_PAGES, h
    assert memory_block_state(guest, pfn) == "online"
    assert g["pages_added"] - g0["pages_added"] == BLOCK_PAGES, (g0, g)
    assert g["pages_onlined"] - g0["pages_onlined"] == BLOCK_PAGES, (g0, g)
    assert "Memory hot add failed" not in guest.dmesg()
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
