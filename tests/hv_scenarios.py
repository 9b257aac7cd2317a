"""The Dynamic Memory scenarios both Hyper-V drivers run against the simulated host.

tests/test_hv_host.py runs them with the unmodified in-tree hv_balloon (the
check that the host model is faithful), tests/test_hv_balloon.py with
hv_balloon_ext, each on its own guest. Every scenario ends with the host's
view and the guest's in agreement: the host's ranges are exactly the
guest's PageOffline pages, the driver's own count (where it shows one) is
the host's, and MemTotal moves as the model says. Where the two drivers
differ on purpose, the difference is a field of Driver and nothing else.
"""
import re
from dataclasses import dataclass

from hv_guest import (BLOCK_PAGES, ask, host, hv_balloon, memory_block_state, meminfo,
                      offline_pages, wait_settled, wait_until)
from virtio_guest import CORE_DEBUGFS, core_lines

RANGES_PER_MESSAGE = 510  # (4096 - 16) / 8
MAX_RANGE_PAGES = 2**24 - 1  # a range's 24-bit page count
# The simulated host's largest raw message, over both drivers' 4096-byte limit.
OVERSIZED = 5000


@dataclass(frozen=True)
class Driver:
    """A Hyper-V balloon driver, and every way it is meant to differ from the other."""
    name: str  # the driver the host sees bound
    # Ballooned pages leave MemTotal: not the in-tree driver's on 5.10.
    memtotal: bool
    # It has /sys/kernel/debug/hv-balloon: not the in-tree driver before 6.0.
    debugfs: bool
    # It reports to balloon_core (debugfs, sysfs, meminfo, show_mem): ours.
    balloon_core: bool
    # The buffer a packet is read into. In-tree 4096: a larger packet gets
    # -ENOBUFS and it parses its stale buffer. Ours: the ring's whole data
    # area, so it reads such a packet and drops it as oversized.
    read_buffer: int
    # It checks the info message's info_size (the in-tree driver trusts it).
    checks_info: bool

    def logs(self, what: str) -> str:
        """The log text of a message it drops: ours prefixes every such line."""
        return f"dropped host message: {what}" if self.name == "hv_balloon_ext" else what


def in_tree(kernel) -> Driver:
    old = kernel.stock == "5.10"
    return Driver(name="hv_balloon", memtotal=not old, debugfs=not old, balloon_core=False,
                  read_buffer=4096, checks_info=False)


def ours() -> Driver:
    return Driver(name="hv_balloon_ext", memtotal=True, debugfs=True, balloon_core=True,
                  read_buffer=16384, checks_info=True)


def balloon(vm, pages: int) -> dict:
    ask(vm, f"balloon {pages}")
    return wait_settled(vm, f"a balloon request of {pages} pages answered")


def unballoon(vm, pages: int, per_message: int = RANGES_PER_MESSAGE,
              per_range: int = MAX_RANGE_PAGES) -> dict:
    ask(vm, f"unballoon {pages} {per_message} {per_range}")
    return wait_settled(vm, f"an unballoon request of {pages} pages answered")


def check_core(vm, drv: Driver, pages: int):
    """Where the driver reports to balloon_core: `pages` in its debugfs file's first
    lines, balloon_core's debugfs and sysfs, and /proc/meminfo."""
    if not drv.balloon_core:
        return
    kb = 4 * pages
    first_two = vm.check("head -n 2 /sys/kernel/debug/hv-balloon").splitlines()
    assert first_two == [f"InflatedTotal: {kb} kB", "InflatedFree: 0 kB"], first_two
    assert vm.check(f"head -n 2 {CORE_DEBUGFS}").splitlines() == core_lines(kb, 0)
    assert vm.check("cat /sys/kernel/balloon/inflated_total_kb "
                    "/sys/kernel/balloon/inflated_free_kb").split() == [str(kb), "0"]
    m = meminfo(vm)
    assert (m["InflatedTotal"], m["InflatedFree"]) == (kb, 0), m


def check_agree(vm, drv: Driver, s: dict, held: int, total: int):
    """Host, guest and MemTotal agree on `held` pages, from MemTotal `total` at none."""
    h, g = s["host"], s["guest"]
    assert h["held_pages"] == held, h
    if drv.debugfs:
        assert g["pages_ballooned"] == held, g
    assert s["MemTotal"] == total - (4 * held if drv.memtotal else 0), (s, total, held)
    assert offline_pages(vm) == {"held": held, "offline-held": held, "offline-all": held}
    check_core(vm, drv, held)


def show_mem_line(vm) -> str:
    """balloon_core's line of a fresh show_mem (sysrq m), the log left as it is."""
    def lines():
        return [line for line in vm.dmesg().splitlines() if "Balloon InflatedTotal:" in line]
    before = len(lines())
    vm.check("echo m > /proc/sysrq-trigger")
    wait_until(vm, lambda s: len(lines()) > before, "show_mem's balloon line")
    return lines()[-1]


def balloon_up_and_down(vm, drv: Driver):
    """Several sizes up, then back down in chained messages; MemTotal to the kB."""
    total = meminfo(vm)["MemTotal"]
    held = 0
    for pages in (70000, 10240, 1, 333):
        before = host(vm)
        s = balloon(vm, pages)
        h = s["host"]
        held += pages
        assert h["balloon_got"] == pages, h
        assert h["err_overlap"] == h["err_short"] == h["err_size"] == 0, h
        assert h["err_unexpected"] == 0, h
        responses = h["balloon_responses"] - before["balloon_responses"]
        # 2 MiB first, then 4 KiB: above 512 and not a multiple of it takes two
        # messages at least (below 512 the 2 MiB pass finds nothing and sends nothing).
        assert responses >= (2 if pages > 512 and pages % 512 else 1), h
        assert h["balloon_max_ranges"] <= RANGES_PER_MESSAGE, h
        check_agree(vm, drv, s, held, total)
        if pages == 70000:
            # The next status reports count the balloon as committed.
            count = h["status_count"]
            h = wait_until(vm, lambda s: s["host"]["status_count"] >= count + 2,
                           "two status reports after the balloon")["host"]
            assert h["status_num_committed"] >= held, h
        if pages == 333 and drv.balloon_core:
            line = show_mem_line(vm)
            assert f"Balloon InflatedTotal:{4 * held}kB InflatedFree:0kB" in line, line
    # Give back part in ranges of 1000 pages, 7 to a message, chained with more_pages.
    before = host(vm)
    s = unballoon(vm, 30000, per_message=7, per_range=1000)
    h = s["host"]
    held -= 30000
    assert h["unballoon_pages"] - before["unballoon_pages"] == 30000, h
    assert h["tx_unballoon_request"] - before["tx_unballoon_request"] >= 5, h
    # The driver answers once, to the message without more_pages.
    assert h["rx_unballoon_response"] - before["rx_unballoon_response"] == 1, h
    check_agree(vm, drv, s, held, total)
    s = unballoon(vm, held)
    check_agree(vm, drv, s, 0, total)


def send_eagain_is_retried(vm, drv: Driver):
    """-EAGAIN from vmbus_sendpacket: the driver waits 20 ms and sends again."""
    total = meminfo(vm)["MemTotal"]
    returned = host(vm)["eagain_returned"]
    ask(vm, "eagain 3")
    s = balloon(vm, 2048)
    h = s["host"]
    assert h["balloon_got"] == 2048, h
    assert h["eagain_returned"] - returned == 3 and h["eagain_left"] == 0, h
    check_agree(vm, drv, s, 2048, total)


def floor_pages(total: int) -> int:
    """The balloon floor of totalram `total` pages, as both drivers compute it."""
    mb = 256  # pages a MiB
    for limit, base, shift in ((128, 8, 1), (512, 40, 2), (2048, 104, 3), (8192, 232, 4)):
        if total < limit * mb:
            return base * mb + (total >> shift)
    return 488 * mb + (total >> 5)


def balloon_stops_at_the_floor(vm, drv: Driver):
    """More than the guest has: cut to what it can give above the floor."""
    total = meminfo(vm)["MemTotal"]
    want = total // 4
    s = balloon(vm, want)
    h = s["host"]
    assert 0 < h["balloon_got"] < want and h["balloon_got"] == h["held_pages"], h
    assert h["err_overlap"] == 0, h
    check_agree(vm, drv, s, h["held_pages"], total)
    assert re.search(r"Balloon request will be partially fulfilled\. "
                     r"(Not enough memory|Balloon floor reached)", vm.dmesg())
    # What is left available stays about the floor (of totalram now).
    m = meminfo(vm)
    assert m["MemAvailable"] // 4 >= 0.9 * floor_pages(m["MemTotal"] // 4), m


def hot_add(vm, drv: Driver, region: bool) -> int:
    """One 128 MiB block above mem=, from a 16- or 24-byte request (the region one
    block further up); it comes online. Returns the kB MemTotal rose by."""
    pfn = vm.hot_add_pfn + (BLOCK_PAGES if region else 0)
    before = host(vm)
    g0 = hv_balloon(vm)
    total = meminfo(vm)["MemTotal"]
    if region:
        ask(vm, f"hot_add_region {pfn:#x} {BLOCK_PAGES:#x} {pfn:#x} {BLOCK_PAGES:#x}")
    else:
        ask(vm, f"hot_add {pfn:#x} {BLOCK_PAGES:#x}")
    s = wait_until(vm, lambda s: not s["host"]["hot_add_pending"]
                   and s["MemTotal"] == total + BLOCK_PAGES * 4,
                   "the hot-added block answered and online")
    h, g = s["host"], s["guest"]
    assert h["hot_add_last_count"] == BLOCK_PAGES and h["hot_add_last_result"] == 1, h
    assert h["hot_added_pages"] - before["hot_added_pages"] == BLOCK_PAGES, h
    assert memory_block_state(vm, pfn) == "online"
    if drv.debugfs:
        assert g["pages_added"] - g0["pages_added"] == BLOCK_PAGES, (g0, g)
        assert g["pages_onlined"] - g0["pages_onlined"] == BLOCK_PAGES, (g0, g)
    assert "Memory hot add failed" not in vm.dmesg()
    check_core(vm, drv, 0)
    return BLOCK_PAGES * 4


def malformed_messages(vm, drv: Driver):
    """What both drivers must survive: an unknown type, hot-remove (Linux has none),
    a packet over the 4096 bytes the host may send, an info message with
    info_size 0. Then a balloon round trip still works."""
    before = host(vm)
    ask(vm, "raw 99 16")
    ask(vm, "raw 13 16")
    ask(vm, f"raw 12 {OVERSIZED}")
    ask(vm, "info 131072 0")
    s = wait_until(vm, lambda s: s["host"]["queued"] == 0, "the malformed messages taken")
    h = s["host"]
    assert h["tx_other"] - before["tx_other"] == 1, h
    too_big = OVERSIZED > drv.read_buffer
    assert h["enobufs"] - before["enobufs"] == int(too_big), h
    expected = [drv.logs("Unhandled message: type: 99"), drv.logs("Unhandled message: type: 13")]
    # -ENOBUFS leaves the in-tree driver's zeroed buffer: it parses type 0.
    expected.append(drv.logs("Unhandled message: type: 0") if too_big
                    else drv.logs(f"type 12 of {OVERSIZED} bytes, oversized"))
    expected.append("with info_size 0, inconsistent"
                    if drv.checks_info else "Max. dynamic memory size: 512 MB")
    for line in expected:
        wait_until(vm, lambda s: line in vm.dmesg(), f"{line!r} logged", timeout=60)
    total = meminfo(vm)["MemTotal"]
    s = balloon(vm, 512)
    check_agree(vm, drv, s, 512, total)
    s = unballoon(vm, 512)
    check_agree(vm, drv, s, 0, total)


def info_message(vm, drv: Driver):
    ask(vm, "info 262144")
    wait_until(vm, lambda s: "Max. dynamic memory size: 1024 MB" in vm.dmesg(),
               "the info message logged")
    if drv.debugfs:
        assert hv_balloon(vm)["max_dynamic_page_count"] == 262144


def status_reports_once_a_second(vm, drv: Driver, reset: bool = True) -> dict:
    """About one report a second, in guest time, with the floor in committed.
    Without `reset`, the host's count from the driver's load is kept, so the
    caller can check when the first report came. Returns the host's view."""
    if reset:
        ask(vm, "reset_status")
    s = wait_until(vm, lambda s: s["host"]["status_count"] >= 6, "six status reports")
    h = s["host"]
    rate = (h["status_count"] - 1) / ((h["status_last_ns"] - h["status_first_ns"]) / 1e9)
    assert 0.3 <= rate <= 1.05, (rate, h)
    # Rate-limited to one per HZ after the last; a guest starved by the host lags.
    assert h["status_min_gap_ns"] >= 0.95e9, h
    pages = s["MemTotal"] // 4
    assert 0 < h["status_num_avail"] <= pages, h
    assert h["status_num_committed"] >= floor_pages(pages), (h, floor_pages(pages))
    return h


def host_and_guest_agree_at_the_end(vm, drv: Driver):
    s = wait_settled(vm, "the host idle at the end")
    h = s["host"]
    for counter in ("err_short", "err_size", "err_unexpected", "err_overlap", "err_closed",
                    "err_packet_type", "rx_other"):
        assert h[counter] == 0, (counter, h)
    assert h["held_pages"] == 0 and h["rx_balloon_response"] == h["balloon_responses"], h
    assert h["driver"] == drv.name and h["bound"] == 1, h
    check_agree(vm, drv, s, 0, s["MemTotal"])
