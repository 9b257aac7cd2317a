# SPDX-License-Identifier: GPL-2.0
"""Part "meminfo": what balloon_core's /proc/meminfo hook adds to a read.

bench/meminfo-bench.c opens, reads and closes /proc/meminfo N times in the
guest and prints the time per read, on average and in its best batch of
1000 reads; the best batch is compared, as host load only ever adds to it. "without" has none of our modules (and
no balloon driver) loaded; "with" has balloon_core alone, so the only
difference is the hook. The two alternate within each repetition.
"""
import re

from bench_guest import RAM
from guest_ops import no_driver
from stats import by_key, ratio, summary
from trial import run_rotating

STATES = {"without": False, "with": True}
RESULT = re.compile(r"meminfo-bench: (\d+) reads, (\d+) ns/read, (\d+) ns/read best batch, "
                    r"(\d+) bytes/read")


def measure_one(vm, record: dict, opts):
    """One meminfo-bench run in state record["state"]; checks the hook is (not) there."""
    with_core = STATES[record["state"]]
    no_driver(vm, RAM, with_core)
    hooked = vm.run("grep -q '^InflatedTotal:' /proc/meminfo")[0] == 0
    if hooked != with_core:
        raise RuntimeError(f"InflatedTotal in /proc/meminfo is {hooked}, expected {with_core}")
    # Warm-up, not measured: under TCG the first pass through new code (a
    # freshly registered kretprobe, say) also pays for translating it.
    vm.check(f"meminfo-bench {max(opts.meminfo_reads // 10, 1)}", timeout=opts.meminfo_timeout)
    out = vm.check(f"meminfo-bench {opts.meminfo_reads}", timeout=opts.meminfo_timeout)
    match = RESULT.search(out)
    if not match:
        raise RuntimeError(f"meminfo-bench printed no result:\n{out[-500:]}")
    (record["reads"], record["ns_per_read_mean"], record["ns_per_read"],
     record["bytes_per_read"]) = map(int, match.groups())


def run(guest, opts, trials: list[dict]):
    run_rotating(guest, opts, "meminfo", trials, "state", STATES, measure_one,
                 lambda r: (f" balloon_core: {r['ns_per_read']} ns/read in the best batch, "
                            f"{r['ns_per_read_mean']} on average ({r['bytes_per_read']} bytes)"))


def summarize(trials: list[dict]) -> dict:
    """ns per read with and without balloon_core, and the relative cost of the hook."""
    result = {}
    for (state,), group in by_key(trials, ("state",)).items():
        result[state] = summary([t["ns_per_read"] for t in group if t["ok"]],
                                attempted=len(group))
        result[f"{state}_mean"] = summary([t["ns_per_read_mean"] for t in group
                                           if t["ok"] and "ns_per_read_mean" in t],
                                          attempted=len(group))
    cost = ratio(result.get("with", {}), result.get("without", {}))
    result["overhead_pct"] = None if cost is None else round((cost - 1) * 100, 1)
    return result
