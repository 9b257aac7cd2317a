# SPDX-License-Identifier: GPL-2.0
"""Part "inflate": how fast each driver inflates and deflates 1 and 2 GiB.

Timed from the QMP `balloon` command until query-balloon's actual reaches the
target: what a host's management tool waits for. Drivers alternate within a
repetition, so load on the host hits both alike.
"""
import time

from bench_guest import RAM
from guest_ops import move_balloon, use_driver
from stats import by_key, summary
from trial import alternating, attempt, describe

MiB = 1 << 20
# An empty balloon and a freshly loaded driver settle before the clock starts.
SETTLE_SECONDS = 0.5


def measure_one(vm, record: dict, timeout: float, poll: float):
    """Inflate by record["size_mib"], then deflate to empty, timing both."""
    size = record["size_mib"] * MiB
    use_driver(vm, record["driver"], RAM)
    time.sleep(SETTLE_SECONDS)
    record["inflate_s"] = round(move_balloon(vm, RAM, size, timeout, poll), 3)
    time.sleep(SETTLE_SECONDS)
    record["deflate_s"] = round(move_balloon(vm, RAM, 0, timeout, poll), 3)
    for direction in ("inflate", "deflate"):
        record[f"{direction}_mib_s"] = round(record["size_mib"] / record[f"{direction}_s"], 1)


def run(guest, opts, trials: list[dict]):
    """Every repetition, driver and size once, drivers alternating."""
    for rep in range(opts.reps):
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
    """{"<size> MiB <direction>": {driver: time summary + rate}} over the trials that measured.

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
            result.setdefault(f"{direction} {size_mib} MiB", {})[driver] = s
    return result
