# SPDX-License-Identifier: GPL-2.0
"""The results as one PNG: four panels, one per measurement, bars at the median, whiskers min-max.

A value that was not measured gets no bar but the text "n/m", so a missing
bar can't be mistaken for a zero.
"""
from argparse import Namespace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on a build machine
import matplotlib.pyplot as plt  # noqa: E402

from trial import reps_text  # noqa: E402

COLORS = {"in-tree": "#8c8c8c", "ext": "#1f77b4", "ext-auto": "#2ca02c", "floor": "#c7c7c7",
          "without": "#8c8c8c", "with": "#1f77b4"}


def bars(ax, groups: list[str], series: dict[str, list[dict | None]], ylabel: str,
         field: str = "median", low: str = "min", high: str = "max"):
    """Grouped bars: one group per label in `groups`, one bar per series, min-max whiskers."""
    width = 0.8 / max(len(series), 1)
    for i, (name, stats) in enumerate(series.items()):
        labelled = False
        for g, s in enumerate(stats):
            x = g + (i - (len(series) - 1) / 2) * width
            if not s or s.get(field) is None:
                ax.text(x, 0, "n/m", ha="center", va="bottom", fontsize=7, rotation=90)
                continue
            err = [[s[field] - s.get(low, s[field])], [s.get(high, s[field]) - s[field]]]
            ax.bar(x, s[field], width, color=COLORS.get(name), yerr=err, capsize=2,
                   label=None if labelled else name)
            ax.annotate(f"{s[field]:.0f}" if s[field] >= 100 else f"{s[field]:.3g}", (x, s[field]), ha="center", va="bottom",
                        fontsize=6, xytext=(0, 2), textcoords="offset points")
            labelled = True
    if not groups:
        ax.text(0.5, 0.5, "not run", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks(range(len(groups)), groups, fontsize=7)
    ax.set_ylabel(ylabel)
    if any(ax.get_legend_handles_labels()):
        ax.set_ylim(0, ax.get_ylim()[1] * 1.25)  # room for the legend above the bars
        ax.legend(fontsize=7, loc="upper right", ncol=len(series))


def rate_stats(s: dict | None) -> dict | None:
    """A time summary turned into MiB/s (the slowest run gives the low whisker)."""
    if not s or not s.get("n"):
        return None
    return {"median": s["rate_mib_s"], "min": s["rate_min_mib_s"], "max": s["rate_max_mib_s"]}


def rate_panel(ax, configs: dict, direction: str):
    """Inflate or deflate rates: one group per configuration and size."""
    groups, series = [], {"in-tree": [], "ext": []}
    for config, data in configs.items():
        for name, drivers in data.get("summary", {}).get("inflate", {}).items():
            if name.startswith(direction):
                groups.append(f"{config}\n{name.split(' ', 1)[1]}")
                for driver in series:
                    series[driver].append(rate_stats(drivers.get(driver)))
    bars(ax, groups, series, "MiB/s")
    ax.set_title(f"{direction} rate (higher is better)", fontsize=9)


def oom_panel(ax, configs: dict):
    """Hog time: the pooled floor, then every driver of the OOM part with the balloon full."""
    ooms = {config: data["summary"]["oom"] for config, data in configs.items()
            if data.get("summary", {}).get("oom")}
    drivers = dict.fromkeys(d for oom in ooms.values() for d in oom.get("drivers", {}))
    series = {"floor": [oom.get("floor") for oom in ooms.values()]}
    for driver in drivers:
        series[driver] = [oom.get("drivers", {}).get(driver, {}).get("balloon")
                          for oom in ooms.values()]
    bars(ax, list(ooms), series, "seconds until the hog is done")
    ax.set_title("OOM recovery: hog time (lower is better)", fontsize=9)


def frag_panel(ax, configs: dict):
    groups, series = [], {"in-tree": [], "ext": []}
    for config, data in configs.items():
        frag = data.get("summary", {}).get("frag")
        if frag:
            groups.append(config)
            for driver in series:
                series[driver].append(frag.get(driver, {}).get("after"))
    bars(ax, groups, series, "free order-9 blocks")
    ax.set_title("fragmentation after a cycle (higher is better)", fontsize=9)


def meminfo_panel(ax, configs: dict):
    groups, series = [], {"without": [], "with": []}
    for config, data in configs.items():
        meminfo = data.get("summary", {}).get("meminfo")
        if meminfo:
            groups.append(config)
            for state in series:
                series[state].append(meminfo.get(state))
    bars(ax, groups, series, "ns per read")
    ax.set_title("/proc/meminfo read, balloon_core without/with", fontsize=9)


def targets_panel(ax, results: dict):
    """The issue's targets as text, so the picture alone says what was met."""
    ax.axis("off")
    marks = {True: "met", False: "NOT MET", None: "n/m"}
    # A long value ("1.30x; QEMU main loop busy ...") goes on, indented, below.
    lines = [f"{marks[c['met']]:8} {c['config']}: {c['target']}"
             + (f" ({c['value']})".replace("; ", ";\n" + " " * 11) if c["value"] else "")
             for c in results.get("targets", [])]
    ax.text(0, 1, "targets (issue 5)\n" + "\n".join(lines), va="top", ha="left",
            fontsize=7, family="monospace", transform=ax.transAxes)


def write_chart(results: dict, path: Path):
    """Draw every panel; the title says what was measured, when and where."""
    configs = results["configs"]
    fig, axes = plt.subplots(2, 3, figsize=(16, 9))
    rate_panel(axes[0][0], configs, "inflate")
    rate_panel(axes[0][1], configs, "deflate")
    oom_panel(axes[0][2], configs)
    frag_panel(axes[1][0], configs)
    meminfo_panel(axes[1][1], configs)
    targets_panel(axes[1][2], results)
    meta = results["meta"]
    virtio_parts = [p for p in meta["options"]["parts"] if p != "vmw"]
    fig.suptitle(f"balloon-ext vs in-tree virtio_balloon: {meta['kernel_release']}, "
                 f"{meta['guest_mem']} guest, QEMU TCG, {meta['date']}, "
                 f"commit {meta['git_commit'][:12]}{' (dirty)' if meta['git_dirty'] else ''}, "
                 f"{reps_text(Namespace(**meta['options']), virtio_parts)}, "
                 f"host load {meta['host_loadavg_start']}",
                 fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_vmw_chart(results: dict, path: Path):
    """The vmw part: work rates per capability mode, inflate and deflate side by side."""
    from measure_vmw import MODE_TEXT  # the mode names live with the measurement
    data = results["parts"]["vmw"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, direction in zip(axes, ("inflate", "deflate")):
        groups, series = [], {"in-tree": [], "ext": []}
        for name, entry in data["summary"].items():
            mode, which = name.split()
            if which == direction:
                groups.append(MODE_TEXT[mode].replace(" ", "\n", 1))
                for driver in series:
                    work = entry.get(driver, {}).get("work")
                    # Done within one poll: no rate to speak of.
                    fast = work and work.get("n") and work["median"] < data.get("poll_s", 0)
                    series[driver].append(None if fast else rate_stats(work))
        bars(ax, groups, series, "MiB/s")
        ax.set_title(f"vmw {direction} rate, working time (higher is better; "
                     f"n/m: within one poll)", fontsize=9)
    meta = results["meta"]
    fig.suptitle(f"balloon-ext vs in-tree vmw_balloon: {meta['kernel_release']}, "
                 f"{data.get('guest_mem', '?')} guest, {data.get('size_mib', '?')} MiB, "
                 f"QEMU TCG, {meta['date']}, commit {meta['git_commit'][:12]}"
                 f"{' (dirty)' if meta['git_dirty'] else ''}, host load "
                 f"{meta['host_loadavg_start']}", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
