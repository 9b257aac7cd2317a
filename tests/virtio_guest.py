"""Driving a virtio balloon guest: load the driver, set the host's target, read every place.

QMP `balloon` takes the guest size the host wants, in bytes; `query-balloon`
answers with the size the guest reports (RAM minus what the balloon holds).
"""
import re
import time

MiB = 1 << 20
# The guest without deflate-on-oom, its balloon on a root port to be unplugged.
NOOOM_DEVICES = ("pcie-root-port,id=rp1,chassis=1,slot=1",
                 "virtio-balloon-pci,id=balloon0,bus=rp1,deflate-on-oom=off")
DEBUGFS = "/sys/kernel/debug/virtio-balloon"
CORE_DEBUGFS = "/sys/kernel/debug/balloon"


def unload_all(vm):
    vm.run("rmmod virtio_balloon_ext; rmmod virtio_balloon; rmmod balloon_core_test; "
           "rmmod balloon_core")


def load_driver(vm, params="", device=True):
    """balloon_core and virtio_balloon_ext, fresh; with `device`, check one got bound."""
    unload_all(vm)
    vm.check(f"insmod /ext/balloon_core.ko && insmod /ext/virtio_balloon_ext.ko {params}")
    if device:
        vm.check(f"test -e {DEBUGFS}")


def wait_actual(vm, target: int, timeout: float = 300) -> float:
    """Wait until the guest reports the size the host asked for; return the seconds taken."""
    start = time.monotonic()
    while True:
        actual = vm.qmp("query-balloon")["actual"]
        if actual == target:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"balloon stuck at {actual} bytes, host wants {target}; "
                                 f"debugfs:\n{vm.run(f'cat {DEBUGFS}')[1]}")
        time.sleep(0.2)


def hog_past_free(vm, beyond_mib: int = 200) -> int:
    """MiB for a hog that needs `beyond_mib` more than is free: only the balloon has it."""
    return meminfo_kb(vm)["MemFree"] // 1024 + beyond_mib


def balloon_to(vm, ballooned: int, timeout: float = 300) -> float:
    """Ask for `ballooned` bytes in the guest's balloon; wait for it."""
    vm.qmp("balloon", value=vm.ram - ballooned)
    return wait_actual(vm, vm.ram - ballooned, timeout)


def unplug(vm, device_id: str, timeout: float = 60):
    """device_del, then wait for QEMU to finish: the guest lets go before QEMU does."""
    vm.qmp_events()
    vm.qmp("device_del", id=device_id)
    deadline = time.monotonic() + timeout
    while not any(e["event"] == "DEVICE_DELETED" and e["data"].get("device") == device_id
                  for e in vm.qmp_events()):
        if time.monotonic() > deadline:
            raise AssertionError(f"no DEVICE_DELETED for {device_id} within {timeout} s")
        time.sleep(0.5)


def wait_guest(vm, cmd: str, what: str, timeout: float = 60):
    """Wait until cmd succeeds in the guest."""
    deadline = time.monotonic() + timeout
    while vm.run(cmd)[0] != 0:
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.5)


def device(vm) -> str:
    """The balloon's virtio device name, e.g. virtio0."""
    out = vm.check("grep -l 0x0005 /sys/bus/virtio/devices/*/device")
    return out.split("/")[-2]


def driver(vm) -> str:
    """The driver bound to the balloon, or "none"."""
    rc, out = vm.run(f"readlink /sys/bus/virtio/devices/{device(vm)}/driver")
    return out.strip().rsplit("/", 1)[-1] if rc == 0 else "none"


def key_values(text: str) -> dict[str, str]:
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def vb_debugfs(vm) -> dict[str, str]:
    return {k: v.strip() for k, v in key_values(vm.check(f"cat {DEBUGFS}")).items()}


def meminfo_kb(vm) -> dict[str, int]:
    out = vm.check("cat /proc/meminfo")
    return {k: int(re.match(r"\s*(\d+)", v).group(1)) for k, v in key_values(out).items()}


def vmstat(vm, name: str) -> int:
    return int(vm.check(f"grep '^{name} ' /proc/vmstat").split()[1])


def core_lines(total_kb: int, free_kb: int) -> list[str]:
    return [f"InflatedTotal:  {total_kb:8d} kB", f"InflatedFree:   {free_kb:8d} kB"]


def check_accounting(vm, ballooned_kb: int, deflate_on_oom: bool, base_memtotal_kb: int):
    """Every place agrees the balloon holds `ballooned_kb`, as the right one of the two values."""
    total, free = (0, ballooned_kb) if deflate_on_oom else (ballooned_kb, 0)
    d = vb_debugfs(vm)
    first_two = vm.check(f"head -n 2 {DEBUGFS}").splitlines()
    assert first_two == [f"InflatedTotal: {total} kB", f"InflatedFree: {free} kB"], first_two
    assert int(d["actual_kb"]) == ballooned_kb and int(d["target_kb"]) == ballooned_kb, d
    assert vm.check(f"head -n 2 {CORE_DEBUGFS}").splitlines() == core_lines(total, free)
    assert vm.check("cat /sys/kernel/balloon/inflated_total_kb "
                    "/sys/kernel/balloon/inflated_free_kb").split() == [str(total), str(free)]
    meminfo = meminfo_kb(vm)
    assert (meminfo["InflatedTotal"], meminfo["InflatedFree"]) == (total, free)
    # Without deflate-on-oom the pages leave MemTotal, to the kB.
    assert meminfo["MemTotal"] == base_memtotal_kb - total, (meminfo["MemTotal"], base_memtotal_kb)


# QMP guest-stats names of tags 0-9, which every QEMU here knows ...
STAT_NAMES = ("stat-swap-in", "stat-swap-out", "stat-major-faults", "stat-minor-faults",
              "stat-free-memory", "stat-total-memory", "stat-available-memory",
              "stat-disk-caches", "stat-htlb-pgalloc", "stat-htlb-pgfail")
# ... and of tags 10-15 (Linux 6.10), which QEMU 7.2 drops and 9.2 shows.
NEW_STAT_NAMES = ("stat-oom-kills", "stat-alloc-stalls", "stat-async-scans",
                  "stat-direct-scans", "stat-async-reclaims", "stat-direct-reclaims")
# What guest-stats shows for a tag the guest never sent: (u64)-1.
STAT_MISSING = (1 << 64) - 1


def missing_stats(stats: dict, names) -> list[str]:
    """The tags among `names` that the host shows as never sent."""
    return [name for name in names if stats[name] == STAT_MISSING]


def stats_polling(vm, seconds: int, device_id: str = "balloon0"):
    """Ask the host to poll the guest's stats every `seconds` (0: stop)."""
    vm.qmp("qom-set", path=f"/machine/peripheral/{device_id}",
           property="guest-stats-polling-interval", value=seconds)


def next_guest_stats(vm, after: int, timeout: float = 30, device_id: str = "balloon0") -> dict:
    """The host's guest-stats once its last-update (whole seconds) is later than `after`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = vm.qmp("qom-get", path=f"/machine/peripheral/{device_id}",
                        property="guest-stats")
        if answer["last-update"] > after:
            return answer
        time.sleep(0.5)
    raise AssertionError(f"no stats update after {after} within {timeout} s")
