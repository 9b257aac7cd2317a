# SPDX-License-Identifier: GPL-2.0
"""Part "inflate": how fast each driver inflates and deflates 1 and 2 GiB.

Timed from the QMP `balloon` command until query-balloon's actual reaches the
target: what a host's management tool waits for. Drivers alternate within a
repetition, so load on the host hits both alike. Over the same window, the
CPU time of each QEMU thread (bench/qemu_threads.py) says where the time went.
"""
import time

from bench_guest import RAM
from guest_ops import move_balloon, use_driver
from qemu_threads import MAIN, timed, us_per_page, vcpu_threads
from stats import by_key, summary
from trial import alternating, attempt, describe, reps_for

MiB = 1 << 20
# An empty balloon and a freshly loaded driver settle before the clock starts.
SETTLE_SECONDS = 0.5


def measure_one(vm, record: dict, timeout: float, poll: float):
    """Inflate by record["size_mib"], then deflate to empty, timing both.

    Each direction's QEMU thread CPU times go in "<direction>_cpu".
    """
    use_driver(vm, record["driver"], RAM)
    vcpus = vcpu_threads(vm)
    for direction, ballooned in (("inflate", record["size_mib"] * MiB), ("deflate", 0)):
        time.sleep(SETTLE_SECONDS)
        seconds, record[f"{direction}_cpu"] = timed(
            vm, vcpus, lambda: move_balloon(vm, RAM, ballooned, timeout, poll))
        record[f"{direction}_s"] = round(seconds, 3)
        record[f"{direction}_mib_s"] = round(record["size_mib"] / seconds, 1)


def run(guest, opts, trials: list[dict]):
    """Every repetition, driver and size once, drivers alternating."""
    for rep in range(reps_for(opts, "inflate")):
        for driver in alternating(opts.drivers, rep):
            for size_mib in opts.sizes:
                record = {"rep": rep + 1, "driver": driver, "size_mib": size_mib}
                attempt(guest, record, lambda vm, r: measure_one(vm, r, opts.balloon_timeout,
                                                                 opts.poll))
                if record["ok"]:
                    print(f"  {describe(record)}: inflate {record['inflate_s']:.2f} s "
                          f"({record['inflate_mib_s']:.0f} MiB/s), deflate "
                          f"{record['deflate_s']:.2f} s ({record['deflate_mib_s']:.0f} MiB/s)",
                          flush=True)
                trials.append(record)


def summarize(trials: list[dict]) -> dict:
    """{"<size> MiB <direction>": {driver: time summary + rate + host_cpu}} over the trials
    that measured.

    The rate is the size over the median time, so it and the time agree.
    """
    result = {}
    for (size_mib, driver), group in by_key(trials, ("size_mib", "driver")).items():
        for direction in ("inflate", "deflate"):
            times = [t[f"{direction}_s"] for t in group if t["ok"]]
            s = summary(times, attempted=len(group))
            if s["n"]:
                s["rate_mib_s"] = round(size_mib / s["median"], 1)
                s["rate_min_mib_s"] = round(size_mib / s["max"], 1)
                s["rate_max_mib_s"] = round(size_mib / s["min"], 1)
            cpu = host_cpu([t[f"{direction}_cpu"] for t in group
                            if t["ok"] and "threads" in t.get(f"{direction}_cpu", {})], size_mib)
            if cpu:
                s["host_cpu"] = cpu
            result.setdefault(f"{direction} {size_mib} MiB", {})[driver] = s
    return result


def host_cpu(windows: list[dict], size_mib: int) -> dict | None:
    """Medians of the QEMU thread windows; None for none (results from before they were kept).

    Per thread group: CPU, of it in the host kernel, waiting for a host CPU,
    and its share = median CPU / median wall, so it agrees with the figures
    beside it. Per 4 KiB page: all threads' CPU, and of it the host kernel's.
    """
    if not windows:
        return None

    def median(values):
        return summary([v for v in values if v is not None]).get("median")

    wall = median(w["wall_s"] for w in windows)
    threads = {}
    for name in dict.fromkeys(n for w in windows for n in w["threads"]):
        runs = [w["threads"][name] for w in windows if name in w["threads"]]
        group = {key: median(r[key] for r in runs) for key in ("cpu_s", "sys_s", "wait_s")}
        group["share"] = round(group["cpu_s"] / wall, 3) if wall else None
        threads[name] = group
    busiest = max((n for n in threads if n != MAIN), key=lambda n: threads[n]["cpu_s"],
                  default=MAIN)
    return {"n": len(windows), "wall_s": wall,
            "resolution_s": max(w["resolution_s"] for w in windows), "threads": threads,
            "busiest": busiest,
            "cpu_us_per_page": us_per_page(median(sum(t["cpu_s"] for t in w["threads"].values())
                                                  for w in windows), size_mib),
            "sys_us_per_page": us_per_page(median(sum(t["sys_s"] for t in w["threads"].values())
                                                  for w in windows), size_mib)}
