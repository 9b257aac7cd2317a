# SPDX-License-Identifier: GPL-2.0
"""Part "frag": free order-9 (2 MiB) blocks after an inflate and deflate cycle.

Huge pages and compaction need order-9 blocks. A driver that gives pages
back scattered leaves fewer of them than it found. Counted from
/proc/buddyinfo over DMA32 and Normal, higher orders in order-9 units, once
before the cycle and once after it.
"""
import time

from bench_guest import RAM
from guest_ops import buddyinfo, free_pages, move_balloon, order9_blocks, use_driver
from stats import by_key, summary
from trial import run_rotating

MiB = 1 << 20
# Freed pages reach the buddy lists through per-CPU lists; give them a moment.
SETTLE_SECONDS = 1.0


def snapshot(vm, record: dict, when: str):
    """Order-9 blocks and free MiB now, with the raw buddyinfo, under `when`."""
    zones = buddyinfo(vm)
    record[f"order9_{when}"] = order9_blocks(zones)
    record[f"free_mib_{when}"] = free_pages(zones) * 4096 // MiB
    record[f"buddyinfo_{when}"] = zones


def measure_one(vm, record: dict, opts):
    use_driver(vm, record["driver"], RAM, opts.balloon_timeout)
    time.sleep(SETTLE_SECONDS)
    snapshot(vm, record, "before")
    move_balloon(vm, RAM, record["size_mib"] * MiB, opts.balloon_timeout, opts.poll)
    move_balloon(vm, RAM, 0, opts.balloon_timeout, opts.poll)
    time.sleep(SETTLE_SECONDS)
    snapshot(vm, record, "after")


def run(guest, opts, trials: list[dict]):
    run_rotating(guest, opts, trials, "driver", opts.drivers, measure_one,
                 lambda r: (f": order-9 free blocks {r['order9_before']} -> {r['order9_after']} "
                            f"(free {r['free_mib_before']} -> {r['free_mib_after']} MiB)"),
                 extra={"size_mib": opts.frag_mib})


def summarize(trials: list[dict]) -> dict:
    """Per driver: order-9 blocks after the cycle, and before it for reference."""
    result = {}
    for (driver,), group in by_key(trials, ("driver",)).items():
        measured = [t for t in group if t["ok"]]
        result[driver] = {
            "after": summary([t["order9_after"] for t in measured], attempted=len(group)),
            "before": summary([t["order9_before"] for t in measured], attempted=len(group)),
            # Free memory itself varies by some MiB between runs; the share does not.
            "share_after": summary([100 * t["order9_after"] * 2 / t["free_mib_after"]
                                    for t in measured if t["free_mib_after"]],
                                   attempted=len(group)),
        }
    return result
