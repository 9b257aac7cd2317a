# SPDX-License-Identifier: GPL-2.0
"""bench/run: the in-tree virtio_balloon against virtio_balloon_ext on one 4 GiB guest,
the in-tree vmw_balloon against vmw_balloon_ext on a VMware guest (part vmw), and
the in-tree hv_balloon against hv_balloon_ext on a simulated Hyper-V host (part hv).

One boot per guest configuration (default kernel arguments, init_on_alloc=0);
in each, the drivers take turns within every repetition of every part: the
in-tree one and ext, and in the OOM part also ext-auto (ext with auto_deflate=1).
The vmw and hv parts boot once each on their own, against their host
models, whatever --configs says.
Writes a table to the terminal and to <out>.txt, the results to <out>.json
and a chart to <out>.png. Run with Debian's python3 (bench/run does).
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from harness_path import BENCH, REPO  # first: makes the test harness importable
from harness import timing
from harness.kernels import prepare_kernel

import bench_guest
import measure_frag
import measure_hv
import measure_inflate
import measure_meminfo
import measure_oom
import measure_vmw
import report
import targets
from guest_ops import DRIVERS, POLL_SECONDS, prime_host_memory
from trial import PART_REPS


def suffixed(out: Path, suffix: str) -> Path:
    """--out with `suffix` added: the path has none, and a dot in it (hv-6.12) is no suffix."""
    return out.with_name(out.name + suffix)


PARTS = {"inflate": measure_inflate, "oom": measure_oom, "frag": measure_frag,
         "meminfo": measure_meminfo}
# Parts with a boot of their own, not one per configuration of the virtio guest.
OWN_BOOT = {"vmw": measure_vmw, "hv": measure_hv}
# What the numbers mean, kept in the JSON beside them.
METHOD = {
    "order": "drivers take turns within each repetition, the order rotated by one place "
             "every repetition (A B, B A; A B C, B C A, C A B)",
    "prime": "after each boot, one balloon cycle over all free memory but --prime-margin-mib, "
             "so no measured run finds host memory that QEMU never discarded",
    "inflate": "seconds from the QMP balloon command until query-balloon's actual equals "
               "the target (polled every --poll s); rate = size / median time",
    "host_cpu": "over the same window, CPU seconds of each QEMU thread (main loop = QEMU's pid, "
                "vCPUs by QMP query-cpus-fast, other) from /proc/<pid>/task/*/schedstat (ns; "
                "stat's utime+stime in ticks without it), of it in the host kernel (stat's "
                "stime, 10 ms ticks), and waiting for a host CPU (schedstat)",
    "oom": "guest-clock seconds of `hog N` with the balloon holding --oom-balloon-mib "
           "(deflate-on-oom); floor = the same after the host deflated the balloon again; "
           "overhead = a driver's median - the median of all drivers' floor runs; "
           "for ours, MiB given back by the shrinker and by the OOM notifier (debugfs)",
    "frag": "free blocks of order >= 9 (in order-9 units) in DMA32 and Normal after "
            "inflating --frag-mib and deflating to empty",
    "meminfo": "ns per open+read+close of /proc/meminfo (bench/meminfo-bench.c), "
               "nothing loaded against balloon_core alone",
    "vmw": "VMware guest against the host model (vmw-balloon-host): per capability mode "
           "(0x2e, 0x26, 0x22), inflate by --vmw-mib and deflate to 0. end to end = from "
           "the host's qom-set of its target until its locked-frames equals it and the "
           "guest's vmmemctl current agrees; work = from the first host command counter "
           "that moved after the qom-set until the same end (no 1 s tick phase); both "
           "polled every --vmw-poll s through QMP qom-get; rate = size / median work time",
    "hv": "Hyper-V guest against the simulated host (tests/hv_host) in one boot: ours, then "
          "the in-tree driver (no exit), each --reps times balloon up by --hv-mib in one "
          "request and down in one; time = the guest's boottime from the host queueing the "
          "request to the answer that ends it; rate = size / median time",
}
# Guest configurations: name -> extra kernel arguments.
CONFIGS = {"default": "", "init_on_alloc=0": "init_on_alloc=0"}


def csv(kind, choices=None):
    """An argparse type for a comma-separated list, checked against `choices`."""
    def parse(text: str):
        items = [kind(item) for item in text.split(",") if item]
        bad = [i for i in items if choices is not None and i not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"{bad or text!r}: choose from {list(choices)}")
        return items
    return parse


def positive(text: str) -> int:
    """An argparse type for a count of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def parse_args(argv):
    p = argparse.ArgumentParser(prog="bench/run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=positive, default=None,
                   help="repetitions of every part (default: "
                        + ", ".join(f"{part} {n}" for part, n in PART_REPS.items()) + ")")
    p.add_argument("--parts", type=csv(str, {**PARTS, **OWN_BOOT}),
                   default=[*PARTS, *OWN_BOOT],
                   help=f"comma-separated, of {','.join([*PARTS, *OWN_BOOT])} (default all)")
    p.add_argument("--configs", type=csv(str, CONFIGS), default=list(CONFIGS),
                   help=f"guest configurations, of {','.join(CONFIGS)} (default both)")
    p.add_argument("--drivers", type=csv(str, DRIVERS), default=["in-tree", "ext"],
                   help="drivers of inflate and frag, in the order they take turns "
                        "(default in-tree,ext)")
    p.add_argument("--oom-drivers", type=csv(str, DRIVERS), default=list(DRIVERS),
                   help=f"drivers of the oom part (default {','.join(DRIVERS)})")
    p.add_argument("--kernel", default="6.1", help="kernel name as in tests (default 6.1)")
    p.add_argument("--sizes", type=csv(int), default=[1024, 2048],
                   help="inflate sizes in MiB (default 1024,2048)")
    p.add_argument("--oom-balloon-mib", type=int, default=3072)
    p.add_argument("--hog-mib", type=int, default=2048)
    p.add_argument("--frag-mib", type=int, default=2048, help="size of the fragmentation cycle")
    p.add_argument("--meminfo-reads", type=int, default=50000,
                   help="reads per meminfo-bench run (default 50000, about 2 s under TCG)")
    p.add_argument("--poll", type=float, default=POLL_SECONDS,
                   help="query-balloon polling interval in seconds")
    p.add_argument("--balloon-timeout", type=float, default=900,
                   help="seconds one inflate or deflate may take before it counts as failed")
    p.add_argument("--hog-timeout", type=float, default=900)
    p.add_argument("--meminfo-timeout", type=float, default=600)
    p.add_argument("--reinflate-watch", type=float, default=3.0,
                   help="seconds after the hog before reading what the balloon holds again")
    p.add_argument("--vmw-mib", type=positive, default=512,
                   help="vmw part: MiB inflated and deflated in each mode (default 512)")
    p.add_argument("--vmw-poll", type=float, default=measure_vmw.POLL_SECONDS,
                   help="vmw part: polling interval of the host's properties in seconds "
                        f"(default {measure_vmw.POLL_SECONDS})")
    p.add_argument("--hv-mib", type=positive, default=512,
                   help="hv part: MiB ballooned up and down each repetition (default 512)")
    p.add_argument("--no-prime", action="store_true",
                   help="skip the balloon cycle over all free memory after each boot")
    p.add_argument("--prime-margin-mib", type=int, default=384,
                   help="free memory the priming cycle leaves alone (default 384)")
    p.add_argument("--out", type=Path, default=BENCH / "results" / "latest",
                   help="output path without suffix (default bench/results/latest)")
    p.add_argument("--no-chart", action="store_true")
    p.add_argument("--render", type=Path, metavar="JSON",
                   help="measure nothing: redo table, targets and chart from a results JSON")
    return p.parse_args(argv)


def git(*args) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True).stdout.strip()


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def metadata(kernel, opts) -> dict:
    """Where and what was measured, so numbers from different runs can be compared."""
    qemu = subprocess.run(["qemu-system-x86_64", "--version"], stdout=subprocess.PIPE,
                          text=True).stdout.splitlines()[0]
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git("rev-parse", "HEAD"),
        # The modules are built from the working tree: say if it differs from the commit.
        "git_dirty": bool(git("status", "--porcelain", "--", "src", "Kbuild", "Makefile")),
        "kernel": opts.kernel, "kernel_release": kernel.release,
        "kernel_package_version": kernel.version,
        "qemu_version": qemu, "host_cpus": os.cpu_count(), "host_cpu_model": cpu,
        "host_loadavg_start": loadavg(),
        "guest_mem": bench_guest.GUEST_MEM, "guest_smp": 2,
        "balloon_device": bench_guest.BALLOON_DEVICE,
        "drivers": {"in-tree": f"virtio_balloon of {kernel.release}",
                    "ext": "balloon_core + virtio_balloon_ext built from the working tree",
                    "ext-auto": "ext loaded with auto_deflate=1 (a shrinker deflates "
                                "during reclaim, before the OOM notifier)"},
        "vmw_drivers": {"in-tree": f"vmw_balloon of {kernel.release}",
                        "ext": "balloon_core + vmw_balloon_ext built from the working tree"},
        "vmw_guest_mem": measure_vmw.GUEST_MEM,
        "hv_drivers": {"in-tree": f"hv_balloon of {kernel.release}",
                       "ext": "balloon_core + hv_balloon_ext built from the working tree"},
        "hv_guest_mem": measure_hv.GUEST_MEM,
        "method": METHOD,
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(opts).items()},
    }


def run_config(kernel, files, config: str, opts, data: dict):
    """Boot one configuration and run every selected part in it, filling `data` as it goes."""
    data["primes"] = []

    def prime(vm):
        if opts.no_prime:
            return
        with timing.stage(f"prime host memory {config}"):
            try:
                data["primes"].append(prime_host_memory(
                    vm, opts.drivers[0], bench_guest.RAM, opts.prime_margin_mib,
                    opts.balloon_timeout, opts.poll))
            except Exception as error:  # noqa: BLE001  measured runs show what it cost
                data["primes"].append({"error": f"{type(error).__name__}: {error}"})
                print(f"[{config}] priming failed: {error}", flush=True)

    guest = bench_guest.Guest(kernel, files, config, CONFIGS[config], on_boot=prime)
    try:
        vm = guest.vm
        data["guest_cmdline"] = vm.check("cat /proc/cmdline").strip()
        data["guest_release"] = vm.check("uname -r").strip()
        for part in (p for p in opts.parts if p in PARTS):
            print(f"\n[{config}] {part}", flush=True)
            with timing.stage(f"{part} {config}"):
                PARTS[part].run(guest, opts, data["trials"].setdefault(part, []))
    except Exception as error:  # noqa: BLE001  a failed boot is a result too
        data["error"] = f"{type(error).__name__}: {error}"
        print(f"[{config}] FAILED: {data['error'][:2000]}", flush=True)
    finally:
        data["boots"] = guest.boots
        data["reboots"] = guest.reboots
        guest.stop()


def finish(results: dict, opts, rendering: bool = False):
    """Targets, table, JSON and chart from whatever was measured."""
    if not rendering:
        results["meta"]["host_loadavg_end"] = loadavg()
        results["stages"] = [{"stage": n, "seconds": round(s, 1), "ok": ok}
                             for n, s, ok in timing.records]
    for data in results["configs"].values():
        data["summary"] = {part: PARTS[part].summarize(trials)
                           for part, trials in data["trials"].items() if trials}
    for part, data in results.get("parts", {}).items():
        data["summary"] = OWN_BOOT[part].summarize(data["trials"], data["poll_s"])
    results["targets"] = targets.evaluate(results["configs"])
    text = report.table(results, opts)
    print("\n" + text)
    print("\nstages:\n" + "\n".join(f"{s['seconds']:8.1f} s  {s['stage']}"
                                      f"{'' if s['ok'] else '  (failed)'}"
                                      for s in results.get("stages", [])))
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    report.write_json(results, suffixed(opts.out, ".json"))
    suffixed(opts.out, ".txt").write_text(text + "\n")
    written = [suffixed(opts.out, ".json"), suffixed(opts.out, ".txt")]
    if not opts.no_chart:
        import chart  # matplotlib only when a chart is wanted
        if results["configs"]:
            chart.write_chart(results, suffixed(opts.out, ".png"))
            written.append(suffixed(opts.out, ".png"))
        if results.get("parts", {}).get("vmw", {}).get("summary"):
            vmw_png = opts.out.with_name(opts.out.name + "-vmw.png")
            chart.write_vmw_chart(results, vmw_png)
            written.append(vmw_png)
    print("\nwrote " + ", ".join(str(p) for p in written))


def render(opts) -> int:
    """Table, targets and chart again from saved trials (after a change to the report)."""
    results = json.loads(opts.render.read_text())
    saved = argparse.Namespace(**results["meta"]["options"])
    saved.out, saved.no_chart = opts.out, opts.no_chart
    for name, value in vars(parse_args([])).items():  # options newer than the JSON
        if not hasattr(saved, name):
            setattr(saved, name, value)
    results["meta"].setdefault("host_loadavg_end", "?")
    finish(results, saved, rendering=True)
    return 0


def main(argv=None) -> int:
    opts = parse_args(argv)
    if opts.render:
        return render(opts)
    started = time.monotonic()
    with timing.stage(f"prepare {opts.kernel}"):
        kernel = prepare_kernel(opts.kernel)
    results = {"meta": metadata(kernel, opts), "configs": {}}
    try:
        if any(part in PARTS for part in opts.parts):
            files = bench_guest.guest_files(kernel)
            for config in opts.configs:
                data = results["configs"][config] = {"append": CONFIGS[config], "trials": {}}
                run_config(kernel, files, config, opts, data)
        for part in (p for p in opts.parts if p in OWN_BOOT):
            print(f"\n[{part}]", flush=True)
            data = results.setdefault("parts", {})[part] = {}
            with timing.stage(f"{part} part"):
                OWN_BOOT[part].run(kernel, opts, data)
    except KeyboardInterrupt:
        results["meta"]["interrupted"] = True
        print("\ninterrupted: writing what was measured", flush=True)
    results["meta"]["total_s"] = round(time.monotonic() - started, 1)
    finish(results, opts)
    failed = sum(not t["ok"] for c in results["configs"].values()
                 for trials in c["trials"].values() for t in trials)
    failed += sum(not t["ok"] for d in results.get("parts", {}).values() for t in d["trials"])
    broken = [c for c, d in {**results["configs"], **results.get("parts", {})}.items()
              if d.get("error")]
    if failed or broken:
        print(f"\n{failed} trials failed; configurations that broke off: {broken or 'none'}")
    return 1 if failed or broken or results["meta"].get("interrupted") else 0


if __name__ == "__main__":
    sys.exit(main())
