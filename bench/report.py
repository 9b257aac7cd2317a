# SPDX-License-Identifier: GPL-2.0
"""The results as a terminal table and as JSON.

Each cell is "median [min..max]"; a cell where some runs failed says how many
measured ("2/3"), and one where none did says "not measured", never a number.
"""
import json
from pathlib import Path

from trial import reps_text

# The inflate and frag tables' columns; the OOM table has one per driver that ran.
DRIVERS = ("in-tree", "ext")
LABEL_WIDTH, CELL_WIDTH = 40, 32


def cell(s: dict | None, unit: str, fmt: str = "{:.2f}", field: str = "median",
         low: str = "min", high: str = "max") -> str:
    """'median [min-max] unit', with 'n/attempted' when some runs did not measure."""
    if not s or not s.get("attempted"):
        return "-"
    if not s.get("n"):
        return f"not measured (0/{s['attempted']})"
    text = " ".join(part for part in (fmt.format(s[field]), unit,
                                      f"[{fmt.format(s[low])}..{fmt.format(s[high])}]") if part)
    if s["n"] < s["attempted"]:
        text += f" {s['n']}/{s['attempted']}"
    return text


def pad(text: str, width: int) -> str:
    """text in a column of `width`, always followed by a space, even when it overflows."""
    return text.ljust(width - 1) + " "


def row(label: str, *cells) -> str:
    return "  " + (label.ljust(LABEL_WIDTH)
                   + "".join(pad(str(c), CELL_WIDTH) for c in cells)).rstrip()


def speedup(ext: dict | None, stock: dict | None, field: str) -> str:
    if not ext or not stock or not ext.get(field) or not stock.get(field):
        return ""
    return f"{ext[field] / stock[field]:.2f}x"


def inflate_lines(summary: dict) -> list[str]:
    lines = [row("inflate / deflate (MiB/s)", *DRIVERS, "ext/in-tree")]
    for name, drivers in summary.items():
        rate = {d: s if not s.get("n") else dict(s, median=s["rate_mib_s"],
                                                   min=s["rate_min_mib_s"],
                                                   max=s["rate_max_mib_s"])
                for d, s in drivers.items()}
        lines.append(row(name, *(cell(rate.get(d), "MiB/s", "{:.0f}") for d in DRIVERS),
                         speedup(rate.get("ext"), rate.get("in-tree"), "median")))
        lines.append(row("  time", *(cell(drivers.get(d), "s") for d in DRIVERS)))
    return lines + host_cpu_lines(summary)


def host_cpu_cell(group: dict) -> str:
    """'1.30 s 84% sys 0.40 w 0.05': CPU, share of wall, of it in the host kernel, waiting."""
    wait = "" if group.get("wait_s") is None else f" w {group['wait_s']:.2f}"
    return f"{group['cpu_s']:.2f} s {group['share']:.0%} sys {group['sys_s']:.2f}{wait}"


def host_cpu_lines(summary: dict) -> list[str]:
    """Where the time goes: QEMU's threads' CPU per size, direction and driver (newer runs)."""
    cpus = {(name, d): drivers[d]["host_cpu"] for name, drivers in summary.items()
            for d in DRIVERS if drivers.get(d, {}).get("host_cpu")}
    if not cpus:
        return []
    groups = list(dict.fromkeys(g for c in cpus.values() for g in c["threads"]))
    coarse = max(c["resolution_s"] for c in cpus.values()) >= 1e-3
    widths = [26, 9] + [28] * len(groups)
    lines = ["", "  where the time goes: CPU of QEMU's threads while the balloon moved (medians):",
             "    s on a CPU" + (" (10 ms ticks: trust the 2 GiB runs)" if coarse else "")
             + ", % of the wall time, sys = of it in the host kernel (10 ms ticks),"
             " w = runnable but waiting for a host CPU",
             "  " + "".join(pad(t, w) for t, w in zip(["", "wall", *groups], widths))
             + "all threads per 4 KiB page"]
    for (name, driver), cpu in cpus.items():
        cells = [f"{name} {driver}", f"{cpu['wall_s']:.2f} s"]
        cells += [host_cpu_cell(cpu["threads"][g]) if g in cpu["threads"] else "-"
                  for g in groups]
        lines.append("  " + "".join(pad(t, w) for t, w in zip(cells, widths))
                     + f"{cpu['cpu_us_per_page']:.2f} us, sys {cpu['sys_us_per_page']:.2f} us")
    return lines


def measured(entry: dict | None) -> bool:
    return bool(entry and entry.get("measured"))


def per_driver(modes: dict, mode: str, text) -> list[str]:
    """text(summary) for each driver whose `mode` runs measured, "-" for the others."""
    return [text(m[mode]) if measured(m.get(mode)) else "-" for m in modes.values()]


def by_source(entry: dict) -> str:
    """MiB ours gave back by shrinker / by OOM notifier; "-" for in-tree, which cannot say."""
    if entry.get("auto_deflated_mib") is None:
        return "-"
    return f"{entry['auto_deflated_mib']} / {entry['oom_deflated_mib']} MiB"


def overhead_ratios(over: dict) -> list[str]:
    """Each of ours' overhead over in-tree's, where in-tree's is above the noise."""
    stock = over.get("in-tree") and over["in-tree"]["median"]
    return [f"{o['median'] / stock:.2f}x" if d != "in-tree" and o and stock and stock > 0
            else "" for d, o in over.items()]


def oom_lines(summary: dict, opts) -> list[str]:
    """A column per driver that ran, in-tree first; ours' overhead as a ratio to in-tree's."""
    modes = summary.get("drivers", {})
    lines = [row(f"OOM: hog {opts.hog_mib} MiB, {opts.oom_balloon_mib} MiB ballooned",
                 *modes)]
    for mode in ("balloon", "floor"):
        lines.append(row(f"hog time, {mode}", *(cell(m.get(mode), "s") for m in modes.values())))
        lines.append(row("  OOM kills / hog not done", *per_driver(
            modes, mode, lambda e: f"{e['oom_kills']} / {e['hog_not_done']}")))
    lines.append(row("floor, all drivers' runs", cell(summary.get("floor"), "s")))
    over = {d: m.get("overhead") for d, m in modes.items()}
    lines.append(row("overhead (median - floor)",
                     *(cell(dict(o, n=1, attempted=1), "s", "{:+.2f}") if o else "not measured"
                       for o in over.values())))
    if any(overhead_ratios(over)):
        lines.append(row("  overhead / in-tree's", *overhead_ratios(over)))
    lines.append(row("  deflated during the hog",
                     *per_driver(modes, "balloon", lambda e: f"{e['deflated_mib']} MiB")))
    if any(m.get("balloon", {}).get("auto_deflated_mib") is not None for m in modes.values()):
        lines.append(row("    by shrinker / OOM notifier",
                         *per_driver(modes, "balloon", by_source)))
    lines.append(row("  held right after / later", *per_driver(
        modes, "balloon", lambda e: f"{e['ballooned_after_mib']} / "
                                    f"{e['ballooned_later_mib']} MiB")))
    return lines


def frag_lines(summary: dict, opts) -> list[str]:
    lines = [row(f"free order-9 blocks ({opts.frag_mib} MiB cycle)", *DRIVERS, "ext/in-tree")]
    for when in ("after", "before"):
        values = {d: summary.get(d, {}).get(when) for d in DRIVERS}
        lines.append(row(f"{when} the cycle", *(cell(values[d], "", "{:.0f}") for d in DRIVERS),
                         speedup(values["ext"], values["in-tree"], "median")))
    lines.append(row("  share of free memory, after", *(
        cell(summary.get(d, {}).get("share_after"), "%", "{:.1f}") for d in DRIVERS)))
    lines.append(row("  pages left on per-CPU lists", *(
        cell(summary.get(d, {}).get("pcp_pages_after"), "", "{:.0f}") for d in DRIVERS)))
    return lines


def meminfo_lines(summary: dict, opts) -> list[str]:
    lines = [row(f"/proc/meminfo read ({opts.meminfo_reads} reads)", "best batch",
                 "average")]
    for state in ("without", "with"):
        lines.append(row(f"{state} balloon_core", cell(summary.get(state), "ns", "{:.0f}"),
                         cell(summary.get(f"{state}_mean"), "ns", "{:.0f}")))
    pct = summary.get("overhead_pct")
    lines.append(row("hook overhead", "not measured" if pct is None else f"{pct:+.1f} %"))
    return lines


def rate_cell(s: dict | None, resolution: float = 0) -> str:
    """A time summary as 'rate [slowest..fastest] MiB/s'; a median time under
    `resolution` (one poll) has no rate to speak of."""
    if s and s.get("n") and s["median"] < resolution:
        return f"(time under one poll: {resolution * 1000:.0f} ms)"
    if not s or not s.get("n") or "rate_mib_s" not in s:
        return cell(s, "MiB/s")
    return cell(dict(s, median=s["rate_mib_s"], min=s["rate_min_mib_s"] or 0,
                     max=s["rate_max_mib_s"] or 0), "MiB/s", "{:.0f}")


def ratio_text(ratio) -> str:
    """1.23 as "1.23x"; None as ""; a note ("within one poll") as it is."""
    if ratio is None:
        return ""
    return ratio if isinstance(ratio, str) else f"{ratio:.2f}x"


def vmw_lines(data: dict, opts) -> list[str]:
    """The vmw part: per mode and direction, work and end-to-end time, rate, ours/in-tree."""
    from measure_vmw import MODE_TEXT  # the mode names live with the measurement
    out = ["", f"== vmw: VMware guest {data.get('guest_mem', '?')} against the host model, "
               f"{reps_text(opts, ['vmw'])}, {data.get('size_mib', '?')} MiB each way, "
               f"poll {data.get('poll_s', 0) * 1000:.0f} ms, "
               f"cmdline: {data.get('guest_cmdline', '?')}"]
    if data.get("error"):
        out.append(f"  FAILED: {data['error'][:500]}")
    for prime in data.get("primes", []):
        out.append(f"  primed: {prime['driver']} inflated {prime['size_mib']} MiB (4 KiB "
                   f"batches) in {prime['inflate_s']:.1f} s, deflated in "
                   f"{prime['deflate_s']:.1f} s"
                   if "error" not in prime else f"  priming FAILED: {prime['error'][:300]}")
    if data.get("reboots"):
        out.append(f"  the guest died and was booted again {len(data['reboots'])} times")
    out.append(row("mode, direction: time", *DRIVERS, "ext/in-tree"))
    for name, entry in data.get("summary", {}).items():
        mode, direction = name.split()
        per = {d: entry.get(d, {}) for d in DRIVERS}
        out.append(row(f"{MODE_TEXT[mode]}, {direction}: work",
                       *(cell(per[d].get("work"), "s", "{:.3f}") for d in DRIVERS),
                       f"{ratio_text(entry.get('ratio_work'))} {entry.get('flag', '')}".strip()))
        out.append(row("  rate (work)", *(rate_cell(per[d].get("work"), data.get("poll_s", 0))
                                          for d in DRIVERS)))
        out.append(row("  end to end", *(cell(per[d].get("end_to_end"), "s") for d in DRIVERS),
                       ratio_text(entry.get("ratio_end_to_end"))))
    flagged = [n for n, e in data.get("summary", {}).items() if e.get("flag")]
    out.append("  where ours is slower (work time; SLOWER: beyond noise, every run slower; "
               "slower?: median > 5 % and 2 polls slower, ranges overlapping): " + (", ".join(
                   f"{n} {data['summary'][n]['flag']}" for n in flagged) or "nowhere"))
    failed = [t for t in data.get("trials", []) if not t["ok"]]
    out += [f"    failed: {t['error'][:200]}" for t in failed]
    return out


def hv_lines(data: dict, opts) -> list[str]:
    """The hv part: balloon up and down time and rate per driver, ours/in-tree."""
    out = ["", f"== hv: Hyper-V guest {data.get('guest_mem', '?')} against the simulated host, "
               f"{reps_text(opts, ['hv'])} of each driver, {data.get('size_mib', '?')} MiB "
               f"each way, {data.get('order', '')}, cmdline: {data.get('guest_cmdline', '?')}"]
    if data.get("error"):
        out.append(f"  FAILED: {data['error'][:500]}")
    out += [f"  loading {t['driver']} FAILED: {t['error'][:300]}"
            for t in data.get("loads", []) if not t["ok"]]
    for prime in data.get("primes", []):
        out.append(f"  primed: {prime['driver']} ballooned {prime['size_mib']} MiB (to the "
                   f"floor) in {prime['inflate_s']:.1f} s, back in {prime['deflate_s']:.1f} s")
    if data.get("reboots"):
        out.append(f"  the guest died and was booted again {len(data['reboots'])} times")
    out.append(row("direction: time (guest clock)", *DRIVERS, "ext/in-tree"))
    for direction, entry in data.get("summary", {}).items():
        per = {d: entry.get(d) for d in DRIVERS}
        out.append(row(f"balloon {direction}", *(cell(per[d], "s", "{:.3f}") for d in DRIVERS),
                       f"{ratio_text(entry.get('ratio'))} {entry.get('flag', '')}".strip()))
        out.append(row("  rate", *(f"{per[d]['rate_mib_s']} MiB/s"
                                   if per[d] and per[d].get("rate_mib_s") else "-"
                                   for d in DRIVERS)))
    flagged = [n for n, e in data.get("summary", {}).items() if e.get("flag")]
    out.append("  where ours is slower (SLOWER: every run slower; slower?: median > 5 % "
               "slower, ranges overlapping): " + (", ".join(
                   f"balloon {n} {data['summary'][n]['flag']}" for n in flagged) or "nowhere"))
    out += [f"    failed: {t['error'][:200]}" for t in data.get("trials", []) if not t["ok"]]
    return out


def table(results: dict, opts) -> str:
    """The whole run as text: one block per guest configuration, then the targets."""
    meta = results["meta"]
    out = [f"balloon-ext benchmark, {meta['date']}, commit {meta['git_commit'][:12]}"
           f"{' (dirty)' if meta['git_dirty'] else ''}, kernel {meta['kernel_release']}, "
           f"{meta['qemu_version']}, host {meta['host_cpus']} CPUs, "
           f"load {meta['host_loadavg_start']} -> {meta.get('host_loadavg_end', '?')}"]
    for config, data in results["configs"].items():
        out += ["", f"== {config}: guest {meta['guest_mem']}, {reps_text(opts, [p for p in opts.parts if p not in ('vmw', 'hv')])}, "
                    f"cmdline: {data.get('guest_cmdline', '?')}"]
        if data.get("error"):
            out.append(f"  FAILED: {data['error'][:500]}")
        for prime in data.get("primes", []):
            out.append(f"  primed: {prime['driver']} inflated {prime['size_mib']} MiB in "
                       f"{prime['inflate_s']:.1f} s, deflated in {prime['deflate_s']:.1f} s"
                       if "error" not in prime else f"  priming FAILED: {prime['error'][:300]}")
        if data.get("reboots"):
            out.append(f"  the guest died and was booted again {len(data['reboots'])} times")
        summary = data.get("summary", {})
        for part, lines in (("inflate", lambda s: inflate_lines(s)),
                            ("oom", lambda s: oom_lines(s, opts)),
                            ("frag", lambda s: frag_lines(s, opts)),
                            ("meminfo", lambda s: meminfo_lines(s, opts))):
            if part in summary:
                out += lines(summary[part])
                failed = [t for t in data["trials"][part] if not t["ok"]]
                out += [f"    failed: {t['error'][:200]}" for t in failed]
    if "vmw" in results.get("parts", {}):
        out += vmw_lines(results["parts"]["vmw"], opts)
    if "hv" in results.get("parts", {}):
        out += hv_lines(results["parts"]["hv"], opts)
    out += ["", "targets (issue 5):"]
    for c in results.get("targets", []):
        verdict = {True: "met", False: "NOT MET", None: "not measured"}[c["met"]]
        out.append(f"  {verdict:13} {c['config']:16} {c['target']}"
                   f"{'  (' + c['value'] + ')' if c['value'] else ''}")
    return "\n".join(out)


def write_json(results: dict, path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(results, indent=1, sort_keys=False) + "\n")
    partial.rename(path)
