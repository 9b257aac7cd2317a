# SPDX-License-Identifier: GPL-2.0
"""Part "oom": how long a memory hog waits while DEFLATE_ON_OOM gives memory back.

The balloon holds 3 GiB of the 4 GiB guest; then the hog touches 2 GiB, which
only the balloon can supply. "balloon" runs time that hog; "floor" runs do
the same but the host deflates the balloon back to full size first, so they
time the hog alone. A driver's OOM overhead is its median minus the floor.
The drivers are --oom-drivers: by default in-tree, ext and ext-auto (ext
with auto_deflate=1, whose shrinker gives pages back before the OOM
notifier is called); ours also say how much each of the two gave back.
After the hog, the host's target still says 3 GiB, so a driver may inflate
again: how much it holds right after and a few seconds later is recorded,
then the target goes back to the full RAM before the next run.

The floor run inflates and deflates first for a reason: QEMU discards the
memory behind ballooned pages, so whoever touches them next pays for host
page faults too. A floor on memory the host still backs would be faster
(on a loaded 2-core host: 8 s for 2 GiB, against 12-18 s after a balloon
cycle) and make every driver look slower than it is.
"""
import re
import time

from bench_guest import RAM
from guest_ops import (DRIVERS, ballooned_mib, clear_dmesg, killed_processes, move_balloon,
                       pressure_deflated_pages, use_driver, vmstat)
from stats import by_key, summary
from trial import alternating, attempt, describe, reps_for

MiB = 1 << 20
MODES = ("balloon", "floor")
# Medians kept of each mode's runs: MiB out of the balloon during the hog, in all
# (vmstat's balloon_deflate) and, for ours, by the shrinker and the OOM notifier.
DEFLATED = ("deflated_mib", "auto_deflated_mib", "oom_deflated_mib")
HOG_MARK = re.compile(r"@@hog ([\d.]+) ([\d.]+) (\d+)@@")


def hog_command(mib: int) -> str:
    """Run the hog timed by the guest's own clock (/proc/uptime), away from serial latency."""
    return (f"read a _ </proc/uptime; hog {mib} 2>/dev/null; r=$?; read b _ </proc/uptime; "
            f"echo \"@@hog $a $b $r@@\"")


def run_hog(vm, record: dict, mib: int, timeout: float):
    """Run the hog; fill in its times, exit status, and whether it touched everything."""
    start = time.monotonic()
    _, out = vm.run(hog_command(mib), timeout=timeout)
    record["hog_host_s"] = round(time.monotonic() - start, 3)
    match = HOG_MARK.search(out)
    if not match:
        raise RuntimeError(f"no hog timing line in the guest's output:\n{out[-1000:]}")
    record["hog_s"] = round(float(match.group(2)) - float(match.group(1)), 2)
    record["hog_rc"] = int(match.group(3))
    record["hog_done"] = record["hog_rc"] == 0 and f"hog: touched {mib} MiB" in out


def measure_one(vm, record: dict, opts):
    """One hog run with the balloon full (mode "balloon") or given back first ("floor")."""
    use_driver(vm, record["driver"], RAM, opts.balloon_timeout)
    record["setup_inflate_s"] = round(
        move_balloon(vm, RAM, opts.oom_balloon_mib * MiB, opts.balloon_timeout, opts.poll), 2)
    if record["mode"] == "floor":
        move_balloon(vm, RAM, 0, opts.balloon_timeout, opts.poll)
    record["ballooned_before_mib"] = ballooned_mib(vm, RAM)
    clear_dmesg(vm)
    before = vmstat(vm)
    ours_before = pressure_deflated_pages(vm, record["driver"])
    run_hog(vm, record, opts.hog_mib, opts.hog_timeout)
    record["ballooned_after_mib"] = ballooned_mib(vm, RAM)
    after = vmstat(vm)
    for source, pages in pressure_deflated_pages(vm, record["driver"]).items():
        record[f"{source}_deflated_mib"] = (pages - ours_before[source]) * 4096 // MiB
    record["oom_kills"] = after.get("oom_kill", 0) - before.get("oom_kill", 0)
    record["killed"] = killed_processes(vm)
    # balloon_deflate counts 4 KiB pages leaving the balloon (every driver uses the core).
    record["deflated_mib"] = (after.get("balloon_deflate", 0)
                              - before.get("balloon_deflate", 0)) * 4096 // MiB
    time.sleep(opts.reinflate_watch)
    record["ballooned_later_mib"] = ballooned_mib(vm, RAM)
    record["reset_s"] = round(move_balloon(vm, RAM, 0, opts.balloon_timeout, opts.poll), 2)


def run(guest, opts, trials: list[dict]):
    """Each repetition: every OOM driver's balloon run, then every one's floor."""
    for rep in range(reps_for(opts, "oom")):
        for mode in MODES:
            for driver in alternating(opts.oom_drivers, rep):
                record = {"rep": rep + 1, "driver": driver, "mode": mode}
                attempt(guest, record, lambda vm, r: measure_one(vm, r, opts))
                if record["ok"]:
                    print(f"  {describe(record)}: hog {record['hog_s']:.2f} s "
                          f"({'done' if record['hog_done'] else 'NOT DONE, rc %d' % record['hog_rc']}), "
                          f"{record['oom_kills']} OOM kills, balloon "
                          f"{record['ballooned_before_mib']} -> {record['ballooned_after_mib']} "
                          f"-> {record['ballooned_later_mib']} MiB", flush=True)
                trials.append(record)


def mode_summary(group: list[dict]) -> dict:
    """Hog times of the runs whose hog finished, and what happened in all that measured."""
    measured = [t for t in group if t["ok"]]
    entry = summary([t["hog_s"] for t in measured if t["hog_done"]], attempted=len(group))
    entry["measured"] = len(measured)
    entry["hog_not_done"] = sum(not t["hog_done"] for t in measured)
    entry["oom_kills"] = sum(t["oom_kills"] for t in measured)
    entry["killed"] = sorted({name for t in measured for name in t["killed"]})
    for field in DEFLATED:  # the in-tree driver's runs have only the first
        entry[field] = summary([t[field] for t in measured if field in t]).get("median")
    entry["ballooned_after_mib"] = [t["ballooned_after_mib"] for t in measured]
    entry["ballooned_later_mib"] = [t["ballooned_later_mib"] for t in measured]
    return entry


def overhead(balloon: dict, floor: dict) -> dict | None:
    """Median minus floor median, with the widest and narrowest gaps the runs allow."""
    if not balloon.get("n") or not floor.get("n"):
        return None
    return {"median": round(balloon["median"] - floor["median"], 2),
            "min": round(balloon["min"] - floor["max"], 2),
            "max": round(balloon["max"] - floor["min"], 2)}


def summarize(trials: list[dict]) -> dict:
    """Per driver: hog time with the balloon and at its own floor; the pooled floor; overhead.

    Times are over the runs whose hog finished; a killed hog has no time to
    finish, so it is counted in oom_kills and hog_not_done instead. The
    floor does not involve the driver (its balloon is empty), so the
    overhead is taken against the floor runs of all drivers together,
    as many times the samples of one as there are drivers; each driver's
    own floor is kept beside it. Drivers come in the order of DRIVERS.
    """
    trials = sorted(trials, key=lambda t: list(DRIVERS).index(t["driver"]))
    result = {driver: {mode: mode_summary(group)}
              for (driver, mode), group in by_key(trials, ("driver", "mode")).items()
              if mode == "balloon"}
    for (driver, mode), group in by_key(trials, ("driver", "mode")).items():
        if mode == "floor":
            result.setdefault(driver, {})["floor"] = mode_summary(group)
    floors = [t for t in trials if t["mode"] == "floor"]
    pooled = mode_summary(floors) if floors else {}
    for driver, modes in result.items():
        modes["overhead"] = overhead(modes.get("balloon", {}), pooled)
        modes["overhead_s"] = modes["overhead"] and modes["overhead"]["median"]
    return {"drivers": result, "floor": pooled}
