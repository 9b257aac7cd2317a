# SPDX-License-Identifier: GPL-2.0
"""What the benchmark does to a running guest: switch drivers, move the balloon, read counters.

Every measurement starts from the same state: the host's target at the full
RAM, the balloon empty, one driver freshly loaded. The helpers here get the
guest there and read what the measurements need.
"""
import re
import time

import harness_path  # makes the test harness importable: wanted for that alone
from virtio_guest import DEBUGFS, MiB, device, unload_all, vb_debugfs

del harness_path

EXT_LOAD = "insmod /ext/balloon_core.ko && insmod /ext/virtio_balloon_ext.ko"
# The drivers compared; the key is the name used in results and tables. "check",
# if any, must succeed once the driver is bound: it proves the variant is on.
DRIVERS = {
    "in-tree": {"module": "virtio_balloon", "load": "modprobe virtio_balloon"},
    "ext": {"module": "virtio_balloon_ext", "load": EXT_LOAD},
    # The shrinker gives pages back during reclaim, before the OOM notifier.
    "ext-auto": {"module": "virtio_balloon_ext", "load": f"{EXT_LOAD} auto_deflate=1",
                 "check": f"grep -qx 'auto_deflate: on' {DEBUGFS}"},
}
CORE_LOAD = "insmod /ext/balloon_core.ko"
# query-balloon is cheap; 25 ms keeps a 1 s deflate's error at a few percent.
POLL_SECONDS = 0.025


class BalloonTimeout(RuntimeError):
    """The guest did not reach the host's target in time (its last actual is in the message)."""


def bound_driver(vm) -> str:
    """Name of the driver bound to the balloon device, or "none"."""
    rc, out = vm.run(f"readlink /sys/bus/virtio/devices/{device(vm)}/driver")
    return out.strip().rsplit("/", 1)[-1] if rc == 0 else "none"


def use_driver(vm, name: str, ram: int, timeout: float = 600):
    """Unload every driver, empty the balloon, load `name` and check it is bound (and on).

    The target goes to the full RAM first: a driver that binds reads the
    host's target at once, and must not start from an old one.
    """
    vm.qmp("balloon", value=ram)
    unload_all(vm)
    vm.check(DRIVERS[name]["load"])
    bound = bound_driver(vm)
    if bound != DRIVERS[name]["module"]:
        raise RuntimeError(f"loaded {name}, but the balloon is bound to {bound}")
    if "check" in DRIVERS[name]:
        vm.check(DRIVERS[name]["check"])
    wait_actual(vm, ram, timeout)


def no_driver(vm, ram: int, with_core: bool):
    """Nothing of either driver loaded; balloon_core alone when `with_core`."""
    vm.qmp("balloon", value=ram)
    unload_all(vm)
    if with_core:
        vm.check(CORE_LOAD)


def wait_actual(vm, target: int, timeout: float, poll: float = POLL_SECONDS) -> float:
    """Seconds until query-balloon's actual equals `target`, polled every `poll` s."""
    start = time.monotonic()
    while True:
        actual = vm.qmp("query-balloon")["actual"]
        now = time.monotonic()
        if actual == target:
            return now - start
        if now - start > timeout:
            raise BalloonTimeout(f"actual {actual // MiB} MiB after {timeout:g} s, "
                                 f"host wants {target // MiB} MiB")
        time.sleep(poll)


def move_balloon(vm, ram: int, ballooned: int, timeout: float,
                 poll: float = POLL_SECONDS) -> float:
    """Ask for `ballooned` bytes in the balloon; seconds from the QMP command to the target.

    The clock starts before the command is sent, as a host tool's would.
    """
    start = time.monotonic()
    vm.qmp("balloon", value=ram - ballooned)
    wait_actual(vm, ram - ballooned, timeout, poll)
    return time.monotonic() - start


def meminfo_mib(vm, field: str) -> int:
    out = vm.check(f"grep '^{field}:' /proc/meminfo")
    return int(out.split()[1]) // 1024


def prime_host_memory(vm, driver: str, ram: int, margin_mib: int, timeout: float,
                      poll: float = POLL_SECONDS) -> dict:
    """Balloon all free memory but `margin_mib` once, then give it back; say what it took.

    QEMU discards (MADV_DONTNEED, 4 KiB at a time) the memory behind each
    ballooned page. Memory never ballooned since boot is still backed by
    host huge pages, so the first inflate that zeroes it (init_on_alloc)
    runs up to twice as fast as every later one, and whichever driver went
    first would look faster. After this cycle every measured run finds the
    host in the same state.
    """
    use_driver(vm, driver, ram, timeout)
    size_mib = meminfo_mib(vm, "MemFree") - margin_mib
    record = {"driver": driver, "size_mib": size_mib}
    record["inflate_s"] = round(move_balloon(vm, ram, size_mib * MiB, timeout, poll), 2)
    record["deflate_s"] = round(move_balloon(vm, ram, 0, timeout, poll), 2)
    return record


def ballooned_mib(vm, ram: int) -> int:
    """What the balloon holds now, as the host sees it."""
    return (ram - vm.qmp("query-balloon")["actual"]) // MiB


def vmstat(vm) -> dict[str, int]:
    """All of /proc/vmstat (missing counters are absent, not zero)."""
    out = vm.check("cat /proc/vmstat")
    return {k: int(v) for k, v in (line.split() for line in out.splitlines()
                                   if len(line.split()) == 2)}


def pressure_deflated_pages(vm, driver: str) -> dict[str, int]:
    """Pages ours gave back since it bound, by "auto" (shrinker) and "oom" (notifier).

    Empty for the in-tree driver, which keeps no such counters.
    """
    if DRIVERS[driver]["module"] != "virtio_balloon_ext":
        return {}
    counters = vb_debugfs(vm)
    return {source: int(counters[f"{source}_deflated_pages"]) for source in ("auto", "oom")}


def clear_dmesg(vm):
    vm.check("dmesg -c >/dev/null")


def killed_processes(vm) -> list[str]:
    """The OOM killer's "Killed process PID (name)" lines since the last clear_dmesg."""
    rc, out = vm.run("dmesg")
    return re.findall(r"Killed process \d+ \(([^)]*)\)", out) if rc == 0 else []


BUDDY_ZONES = ("DMA32", "Normal")


def buddyinfo(vm) -> dict[str, list[int]]:
    """Free blocks per order for each zone in /proc/buddyinfo, e.g. {"Normal": [c0..c10]}."""
    zones = {}
    for line in vm.check("cat /proc/buddyinfo").splitlines():
        match = re.match(r"Node\s+\d+,\s+zone\s+(\S+)\s+([\d\s]+)$", line.strip())
        if match:
            counts = [int(c) for c in match.group(2).split()]
            zones[match.group(1)] = [a + b for a, b in
                                     zip(zones.get(match.group(1), [0] * len(counts)), counts)]
    return zones


def order9_blocks(zones: dict[str, list[int]]) -> int:
    """Free order-9 blocks in DMA32 and Normal, higher orders counted in order-9 units."""
    return sum(count << (order - 9)
               for name in BUDDY_ZONES for order, count in enumerate(zones.get(name, []))
               if order >= 9)


def free_pages(zones: dict[str, list[int]]) -> int:
    """All free 4 KiB pages in DMA32 and Normal, as buddyinfo counts them."""
    return sum(count << order
               for name in BUDDY_ZONES for order, count in enumerate(zones.get(name, [])))
