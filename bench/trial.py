# SPDX-License-Identifier: GPL-2.0
"""Run one measurement and keep its outcome, good or bad, in its record.

A benchmark that stops at the first timeout shows nothing; one that drops a
failed run shows numbers that look better than they are. So each trial's
record says whether it measured, and if not, why.
"""
import time
import traceback

# Long messages (a console tail) are kept whole in the JSON, cut on the terminal.
TERMINAL_ERROR_CHARS = 300


def attempt(guest, record: dict, measure) -> dict:
    """measure(vm, record) fills `record`; any failure is recorded in it, not raised.

    KeyboardInterrupt still stops the run (run.py saves what it has).
    """
    start = time.monotonic()
    try:
        measure(guest.vm, record)
        record["ok"] = True
    except Exception as error:  # noqa: BLE001  every failure is a result here
        record["ok"] = False
        record["error"] = f"{type(error).__name__}: {error}"
        record["traceback"] = traceback.format_exc(limit=6)
        record["guest_alive_after"] = guest.alive
        print(f"  FAILED {describe(record)}: {record['error'][:TERMINAL_ERROR_CHARS]}",
              flush=True)
    record["wall_s"] = round(time.monotonic() - start, 3)
    return record


def describe(record: dict) -> str:
    """A short name for a trial on the terminal, e.g. "rep 1 ext 1024 MiB"."""
    parts = [f"rep {record.get('rep', '?')}", record.get("driver", record.get("state", ""))]
    for key, unit in (("size_mib", "MiB"), ("mode", "")):
        if key in record:
            parts.append(f"{record[key]} {unit}".strip())
    return " ".join(p for p in parts if p)


# Repetitions per part unless --reps says otherwise. The parts whose targets
# sit at parity with the in-tree driver (inflate with init_on_alloc, frag)
# vary by a few per cent between repetitions under TCG, and three left their
# medians to chance; they are cheap, so they get ten. The OOM part, about
# 2.5 min a repetition, keeps three: its target is met by a wide margin.
# Each is a multiple of the drivers (or states) taking turns, so that each
# goes first equally often: in one run the driver going second inflated
# 2 GiB 8 % faster, whichever it was. The vmw part (its own boot, six
# inflates and deflates per driver a repetition) keeps to about 10 min.
# The hv part cannot take turns (the in-tree hv_balloon has no exit), so
# its five repetitions are of each driver in a row.
PART_REPS = {"inflate": 10, "oom": 3, "frag": 10, "meminfo": 10, "vmw": 4, "hv": 5}


def reps_for(opts, part: str) -> int:
    """Repetitions of `part`: --reps when given, else PART_REPS."""
    return opts.reps or PART_REPS[part]


def reps_text(opts, parts) -> str:
    """The repetitions of `parts` for a headline, e.g. "10 reps of inflate, 3 of oom"."""
    counts = [(part, reps_for(opts, part)) for part in parts]
    if len({n for _, n in counts}) == 1:
        return f"{counts[0][1]} rep(s)"
    return ", ".join(f"{n} reps of {part}" if i == 0 else f"{n} of {part}"
                     for i, (part, n) in enumerate(counts))


def alternating(items: list, rep: int) -> list:
    """`items` rotated by one place every repetition: A B, B A, ... or A B C, B C A, C A B, ...

    Alternating within a repetition already spreads slow drift over every
    driver; rotating the order puts each driver first, second, ... equally
    often, which cancels a steady drift and any cost of a place in the order
    over as many repetitions as there are drivers. For two, it reverses.
    """
    shift = rep % len(items) if items else 0
    return list(items[shift:]) + list(items[:shift])


def run_rotating(guest, opts, part: str, trials: list[dict], key: str, items, measure_one,
                 line, extra: dict | None = None):
    """reps_for(opts, part) repetitions of each of `items` once, in alternating() order.

    Each trial's record is {"rep", key: item} plus `extra`, filled by
    measure_one(vm, record, opts) under attempt(); a trial that measured is
    printed as its describe() followed by line(record).
    """
    for rep in range(reps_for(opts, part)):
        for item in alternating(list(items), rep):
            record = {"rep": rep + 1, key: item, **(extra or {})}
            attempt(guest, record, lambda vm, r: measure_one(vm, r, opts))
            if record["ok"]:
                print(f"  {describe(record)}{line(record)}", flush=True)
            trials.append(record)
