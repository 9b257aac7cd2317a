# SPDX-License-Identifier: GPL-2.0
"""Issue 5's targets, checked against a run's summaries: met, not met, or not measured.

They are shown, not asserted: a benchmark on a loaded TCG host is no pass or
fail test, but the reader should not have to work the ratios out by hand.
"""
from qemu_threads import MAIN
from stats import ratio

INIT_ON_ALLOC_OFF = "init_on_alloc=0"
# Our drivers with OOM targets (each against in-tree).
OURS = ("ext", "ext-auto")


def check(target: str, config: str, value, met) -> dict:
    return {"target": target, "config": config, "value": value, "met": met}


def rate_checks(config: str, inflate: dict) -> list[dict]:
    """ext's rate (size over median time) against in-tree's, for every size and direction.

    A target not met says how busy QEMU's threads were in ext's runs: its
    main loop, and the busiest other thread (under TCG a vCPU, which runs
    the balloon's queue handler too) with its host kernel part.
    """
    factor = 1.5 if config == INIT_ON_ALLOC_OFF else 1.0
    checks = []
    for name, drivers in inflate.items():
        speedup = ratio(drivers.get("ext", {}), drivers.get("in-tree", {}), "rate_mib_s")
        met = None if speedup is None else speedup >= factor
        value = speedup and f"{speedup:.2f}x"
        cpu = drivers.get("ext", {}).get("host_cpu")
        if met is False and cpu:
            value += f"; {busy(cpu)}"
        checks.append(check(f"{name}: ext rate >= {factor}x in-tree", config, value, met))
    return checks


def busy(cpu: dict) -> str:
    """E.g. "QEMU main loop busy 2% of ext's wall time, vCPU0 95% (host kernel 30%)"."""
    main, top = cpu["threads"].get(MAIN, {}), cpu["threads"][cpu["busiest"]]
    kernel = f" (host kernel {top['sys_s'] / top['cpu_s']:.0%})" if top["cpu_s"] else ""
    return (f"QEMU main loop busy {main.get('share') or 0:.0%} of ext's wall time, "
            f"{cpu['busiest']} {top['share']:.0%}{kernel}")


def oom_checks(config: str, oom: dict) -> list[dict]:
    """The OOM targets for each of ours that ran (ext's, not measured, if none did)."""
    drivers = oom.get("drivers", {})
    ours = [d for d in OURS if d in drivers] or ["ext"]
    return [c for d in ours
            for c in driver_oom_checks(config, d, drivers.get(d, {}), drivers.get("in-tree", {}))]


def driver_oom_checks(config: str, name: str, ours: dict, stock: dict) -> list[dict]:
    """`name`'s overhead at most a fifth of in-tree's, and no OOM kill with it.

    An in-tree overhead at or below zero means the noise is larger than what
    is measured: then no ratio can say anything, and the check says so.
    """
    a, b = ours.get("overhead_s"), stock.get("overhead_s")
    target = f"OOM overhead: {name} <= in-tree / 5"
    if a is None or b is None:
        checks = [check(target, config, None, None)]
    elif b <= 0:
        checks = [check(target, config, f"in-tree overhead {b:+.2f} s is within the noise",
                        None)]
    else:
        checks = [check(target, config, f"{a:.2f} s vs {b:.2f} s / 5", a <= b / 5)]
    balloon = ours.get("balloon", {})
    target = f"OOM: {name} has zero OOM kills"
    if balloon.get("measured"):
        kills = balloon["oom_kills"] + balloon["hog_not_done"]
        checks.append(check(target, config, f"{balloon['oom_kills']} kills, "
                            f"{balloon['hog_not_done']} hogs not done", kills == 0))
    else:
        checks.append(check(target, config, None, None))
    return checks


def frag_checks(config: str, frag: dict) -> list[dict]:
    """Compares counts, as the issue asks; the table shows the share of free memory beside."""
    ext = frag.get("ext", {}).get("after", {}).get("median")
    stock = frag.get("in-tree", {}).get("after", {}).get("median")
    met = None if ext is None or stock is None else ext >= stock
    return [check("order-9 blocks after a cycle: ext >= in-tree", config,
                  None if met is None else f"{ext:g} vs {stock:g}", met)]


def meminfo_checks(config: str, meminfo: dict) -> list[dict]:
    pct = meminfo.get("overhead_pct")
    return [check("meminfo hook adds <= 5% to a read", config,
                  None if pct is None else f"{pct:+.1f} %", None if pct is None else pct <= 5)]


CHECKS = {"inflate": rate_checks, "oom": oom_checks, "frag": frag_checks,
          "meminfo": meminfo_checks}


def evaluate(configs: dict) -> list[dict]:
    """Every target for every config and part that ran."""
    result = []
    for config, data in configs.items():
        for part, summary in data.get("summary", {}).items():
            result += CHECKS[part](config, summary)
    return result
