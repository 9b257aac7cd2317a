# SPDX-License-Identifier: GPL-2.0
"""CPU time of each QEMU thread over a timed window: where a balloon move's time goes.

QEMU's per-page balloon work (inflate: ram_block_discard_range, an
madvise(MADV_DONTNEED) per 4 KiB page; deflate: memory_region_find and
madvise(MADV_WILLNEED) per page) runs in virtio-balloon's queue handler.
Under KVM an ioeventfd hands the guest's kick to the main-loop thread; under
TCG there is no ioeventfd (QEMU 7.2 uses it only with KVM), so the vCPU
thread whose guest code wrote the notify register runs the handler itself,
holding the BQL, before that guest code goes on. Its thread's CPU time then
holds both the guest's work and the host's: the host kernel's part (the
madvise calls, host page faults) is its system time.

Per thread: /proc/<pid>/task/<tid>/schedstat gives the nanoseconds on a CPU
and waiting for one; stat's utime and stime (fields 14 and 15) the user and
system split in clock ticks (10 ms). Without schedstat the CPU time is
utime + stime. The main loop is the thread whose id is QEMU's pid; the vCPU
threads' ids come from QMP query-cpus-fast (QEMU names its threads only with
-name debug-threads=on). A thread that exits inside a window is not counted.
"""
import os
import time
from pathlib import Path

TICK_SECONDS = 1 / os.sysconf("SC_CLK_TCK")
PAGE_BYTES = 4096
MAIN = "main loop"
OTHER = "other"


def read_thread(task: Path) -> dict:
    """One thread's seconds so far: cpu (on a CPU), sys (of it in the kernel), wait (or None)."""
    # The comm in stat may hold spaces: the fields after its ")" are numbered 3, 4, ...
    fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
    user, system = (int(fields[n - 3]) * TICK_SECONDS for n in (14, 15))
    times = {"cpu": user + system, "sys": system, "wait": None}
    try:
        run_ns, wait_ns, _ = (task / "schedstat").read_text().split()
        times.update(cpu=int(run_ns) / 1e9, wait=int(wait_ns) / 1e9)
    except FileNotFoundError:
        pass  # no CONFIG_SCHED_INFO: ticks only
    return times


def snapshot(pid: int) -> dict:
    """The time now and every live QEMU thread's times so far, by thread id."""
    threads = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            threads[int(task.name)] = read_thread(task)
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread exited while we read
    return {"at": time.monotonic(), "threads": threads}


def vcpu_threads(vm) -> list[int]:
    """Host thread ids of the guest's vCPUs, in CPU index order."""
    cpus = sorted(vm.qmp("query-cpus-fast"), key=lambda c: c["cpu-index"])
    return [c["thread-id"] for c in cpus]


def group_of(pid: int, vcpus: list[int]) -> dict[int, str]:
    return {pid: MAIN} | {tid: f"vCPU{i}" for i, tid in enumerate(vcpus)}


def window(pid: int, vcpus: list[int], before: dict, after: dict) -> dict:
    """{"wall_s", "resolution_s", "threads": {group: {"cpu_s", "sys_s", "wait_s"}}}.

    Groups: "main loop", "vCPU0", "vCPU1", ..., and "other" for the rest
    (call_rcu, workers). wait_s is the time runnable but waiting for a host
    CPU (None without schedstat); resolution_s that of cpu_s (sys_s is in ticks).
    """
    names = group_of(pid, vcpus)
    groups = {name: {"cpu_s": 0.0, "sys_s": 0.0, "wait_s": 0.0}
              for name in [*names.values(), OTHER]}
    exact = True  # schedstat: ns; else ticks, and no wait times
    for tid, now in after["threads"].items():
        then = before["threads"].get(tid, {"cpu": 0.0, "sys": 0.0, "wait": 0.0})
        group = groups[names.get(tid, OTHER)]
        group["cpu_s"] += now["cpu"] - then["cpu"]
        group["sys_s"] += now["sys"] - then["sys"]
        if now["wait"] is None or then["wait"] is None:
            exact = False
        else:
            group["wait_s"] += now["wait"] - then["wait"]
    return {"wall_s": round(after["at"] - before["at"], 4),
            "resolution_s": 1e-9 if exact else TICK_SECONDS,
            "threads": {name: {k: round(v, 4) if exact or k != "wait_s" else None
                                for k, v in g.items()} for name, g in groups.items()}}


def timed(vm, vcpus: list[int], action) -> tuple[object, dict]:
    """action()'s result, and the window of QEMU's threads around it."""
    pid = vm.proc.pid
    before = snapshot(pid)
    result = action()
    return result, window(pid, vcpus, before, snapshot(pid))


def us_per_page(cpu_s: float, size_mib: int) -> float:
    """CPU microseconds per 4 KiB page moved."""
    return round(cpu_s * 1e6 / (size_mib * (1 << 20) // PAGE_BYTES), 2)
