# SPDX-License-Identifier: GPL-2.0
"""Part "frag": free order-9 (2 MiB) blocks after an inflate and deflate cycle.

Huge pages and compaction need order-9 blocks. A driver that gives pages
back scattered leaves fewer of them than it found. Counted from
/proc/buddyinfo over DMA32 and Normal, higher orders in order-9 units, once
before the cycle and once after it.

Freed pages wait on per-CPU lists, which /proc/buddyinfo does not see, and
how full those are when a cycle ends swayed the count more than the driver
did. So the lists shrink to their floor for this part, and before each
count every CPU that can go offline empties its own by doing so
(bench/README.md, "Why the fragmentation part empties the per-CPU lists").
"""
import re
import time

from bench_guest import RAM
from guest_ops import buddyinfo, free_pages, move_balloon, order9_blocks, use_driver
from stats import by_key, summary
from trial import run_rotating

MiB = 1 << 20
# Freed pages reach the buddy lists through per-CPU lists; give them a moment.
SETTLE_SECONDS = 1.0
PCP_FRACTION = "/proc/sys/vm/percpu_pagelist_high_fraction"
# Large enough that every list's limit falls to the kernel's floor, 4 batches.
SMALL_PCP_FRACTION = 1_000_000
# Offlining a CPU frees its per-CPU lists to the buddy lists; it comes back at once.
EMPTY_PCP_LISTS = ("for f in /sys/devices/system/cpu/cpu[0-9]*/online; do "
                   "[ -w $f ] && [ $(cat $f) = 1 ] || continue; "
                   "echo 0 > $f && echo 1 > $f || exit 1; done")


def pcp_pages(vm) -> int:
    """Pages on all per-CPU free lists, from the `count:` lines of /proc/zoneinfo."""
    return sum(int(c) for c in re.findall(r"^\s+count:\s+(\d+)$",
                                          vm.check("cat /proc/zoneinfo"), re.M))


def snapshot(vm, record: dict, when: str):
    """Order-9 blocks and free MiB now, with the raw buddyinfo, under `when`."""
    vm.check(f"({EMPTY_PCP_LISTS})")
    record[f"pcp_pages_{when}"] = pcp_pages(vm)
    zones = buddyinfo(vm)
    record[f"order9_{when}"] = order9_blocks(zones)
    record[f"free_mib_{when}"] = free_pages(zones) * 4096 // MiB
    record[f"buddyinfo_{when}"] = zones


def measure_one(vm, record: dict, opts):
    # Every trial: a guest booted again after a failure starts with the default.
    vm.check(f"echo {SMALL_PCP_FRACTION} > {PCP_FRACTION}")
    use_driver(vm, record["driver"], RAM, opts.balloon_timeout)
    time.sleep(SETTLE_SECONDS)
    snapshot(vm, record, "before")
    move_balloon(vm, RAM, record["size_mib"] * MiB, opts.balloon_timeout, opts.poll)
    move_balloon(vm, RAM, 0, opts.balloon_timeout, opts.poll)
    time.sleep(SETTLE_SECONDS)
    snapshot(vm, record, "after")


def run(guest, opts, trials: list[dict]):
    default = guest.vm.check(f"cat {PCP_FRACTION}").strip()
    try:
        run_rotating(guest, opts, "frag", trials, "driver", opts.drivers, measure_one,
                     lambda r: (f": order-9 free blocks {r['order9_before']} -> "
                                f"{r['order9_after']} (free {r['free_mib_before']} -> "
                                f"{r['free_mib_after']} MiB, {r['pcp_pages_after']} pages "
                                f"on per-CPU lists)"),
                     extra={"size_mib": opts.frag_mib})
    finally:
        # The parts after this one measure with the kernel's own list sizes.
        if guest.alive:
            guest.vm.check(f"echo {default} > {PCP_FRACTION}")


def summarize(trials: list[dict]) -> dict:
    """Per driver: order-9 blocks after the cycle, and before it for reference."""
    result = {}
    for (driver,), group in by_key(trials, ("driver",)).items():
        measured = [t for t in group if t["ok"]]
        result[driver] = {
            "after": summary([t["order9_after"] for t in measured], attempted=len(group)),
            "before": summary([t["order9_before"] for t in measured], attempted=len(group)),
            # Free memory itself varies by some MiB between runs; the share does not.
            # Results from before the lists were emptied have no count.
            "pcp_pages_after": summary([t["pcp_pages_after"] for t in measured
                                        if "pcp_pages_after" in t], attempted=len(group)),
            "share_after": summary([100 * t["order9_after"] * 2 / t["free_mib_after"]
                                    for t in measured if t["free_mib_after"]],
                                   attempted=len(group)),
        }
    return result
