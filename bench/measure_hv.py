# SPDX-License-Identifier: GPL-2.0
"""Part "hv": the in-tree hv_balloon against hv_balloon_ext, against the simulated host.

One boot of its own: a TCG guest whose Hyper-V Dynamic Memory host is
hv_sim_vmbus (tests/hv_host), as in the tests (tests/hv_guest.py), with
ACPI S4 off and 2 GiB. Both drivers run against the same host in that
boot, but not in turns: the in-tree module has no exit, so ours goes first
(every repetition), is unloaded, the host module is reloaded empty, and
then the in-tree driver runs the same repetitions. That fixed order is the
part's known bias. Against it, the first driver makes one unmeasured
cycle over all the guest can give before any measured run (prime()), and
the guest's free memory is compacted before each driver's turn, so that
neither finds the other's leftovers.

Each repetition balloons --hv-mib up in one request and back down in one.
Time is the guest's own: the host stamps boottime when it queues the
request and when the answer that ends it arrives (balloon_asked_ns,
balloon_done_ns, and the unballoon pair), so neither QMP nor the shell's
polling is counted. rate = size / median time.
"""
from harness_path import REPO  # first: makes the test harness importable
from harness import timing
from harness.build import build_modules, build_static, prepare_toolchain
from harness.guest import boot_vm
from harness.hv_host import build_hv_sim, in_tree_balloon, redirected_driver, vmbus_builtin

import bench_guest
from measure_vmw import slower
from stats import by_key, summary
from trial import attempt, describe, reps_for
from hv_guest import (EXT_KO, IN_TREE_KO, OFFLINE_TOOL, S4_OFF, SIM_KO, ask, host,
                      offline_pages, wait_settled)

GUEST_MEM = "2G"
PAGES_PER_MIB = 256
# The compared drivers, named as in the other parts; "module" is what the host sees bound.
DRIVERS = {"ext": {"module": "hv_balloon_ext", "ko": EXT_KO},
           "in-tree": {"module": "hv_balloon", "ko": IN_TREE_KO}}
# The host stamps its boottime in ns: anything coarser than this is not the clock.
RESOLUTION_S = 0.001


class HvGuest(bench_guest.Guest):
    """bench_guest.Guest against the simulated Hyper-V host: S4 off, no balloon device."""

    def __init__(self, kernel, files: dict):
        super().__init__(kernel, files, "hv", "", on_boot=None)

    def boot(self, name: str):
        return boot_vm(self.kernel, self.files, name, mem=GUEST_MEM, append=self.append,
                       kernel_modules=("virtio_pci",), extra_args=S4_OFF)


def guest_files(kernel) -> dict:
    """balloon_core.ko and hv_balloon_ext.ko from the working tree (redirected to the
    simulated host where vmbus is built in), the host module, the in-tree driver."""
    with timing.stage(f"build modules {kernel.name}"):
        prepare_toolchain(kernel)
        built = build_modules(kernel, REPO)
    with timing.stage(f"hv_host module {kernel.name}"):
        sim_ko = build_hv_sim(kernel)
    files = {"/ext/balloon_core.ko": built / "balloon_core.ko", EXT_KO: built / "hv_balloon_ext.ko",
             SIM_KO: sim_ko, IN_TREE_KO: in_tree_balloon(kernel),
             OFFLINE_TOOL: build_static(REPO / "tests" / "guest" / "hv-offline.c")}
    if vmbus_builtin(kernel):
        files[EXT_KO] = redirected_driver(kernel, REPO, sim_ko)
    for path in files.values():
        if not path.exists():
            raise FileNotFoundError(f"the build made no {path}")
    return files


def load(vm, name: str):
    """`name` bound to a fresh host, nothing ballooned; ours must go first (see above)."""
    if vm.run("test -e /sys/module/hv_balloon")[0] == 0:
        raise RuntimeError("the in-tree hv_balloon is loaded: it has no exit, boot again")
    vm.run("rmmod hv_balloon_ext")
    vm.run("rmmod hv_sim_vmbus")
    vm.check("test -e /sys/module/balloon_core || insmod /ext/balloon_core.ko")
    vm.check(f"insmod {SIM_KO}")
    vm.check(f"insmod {DRIVERS[name]['ko']}")
    h = host(vm)
    if h["driver"] != DRIVERS[name]["module"] or h["bound"] != 1:
        raise RuntimeError(f"{name} not bound: {h}")
    vm.check("sync; echo 3 > /proc/sys/vm/drop_caches; echo 1 > /proc/sys/vm/compact_memory")


def prime(vm, timeout: float) -> dict:
    """One unmeasured cycle over all the guest can give above the floor, so that no
    measured run is the first to touch guest RAM (under TCG that first touch is
    QEMU faulting in host memory, several times the driver's own cost)."""
    want = int(vm.check("grep '^MemTotal:' /proc/meminfo").split()[1]) // 4
    up = move(vm, f"balloon {want}", "balloon", timeout)
    held = host(vm)["held_pages"]
    down = move(vm, f"unballoon {held}", "unballoon", timeout)
    return {"size_mib": held // PAGES_PER_MIB, "inflate_s": round(up, 2),
            "deflate_s": round(down, 2)}


def move(vm, command: str, prefix: str, timeout: float) -> float:
    """Send the host's request; its guest-clock duration in seconds once both sides settle."""
    ask(vm, command)
    h = wait_settled(vm, f"{command!r} answered")["host"]
    if not h[f"{prefix}_done_ns"]:
        raise RuntimeError(f"{command!r}: no answer stamped: {h}")
    return (h[f"{prefix}_done_ns"] - h[f"{prefix}_asked_ns"]) / 1e9


def measure(vm, record: dict, opts):
    pages = record["size_mib"] * PAGES_PER_MIB
    record["up_s"] = round(move(vm, f"balloon {pages}", "balloon", opts.balloon_timeout), 4)
    h = host(vm)
    if h["held_pages"] != pages or offline_pages(vm)["offline-held"] != pages:
        raise RuntimeError(f"ballooned {h['held_pages']} of {pages} pages (the floor?): {h}")
    record["responses"] = h["balloon_responses"]
    record["down_s"] = round(move(vm, f"unballoon {pages}", "unballoon",
                                  opts.balloon_timeout), 4)
    if host(vm)["held_pages"] or offline_pages(vm)["offline-all"]:
        raise RuntimeError(f"pages left after the unballoon: {host(vm)}")


def run(kernel, opts, data: dict):
    """Boot the guest, then every repetition of ours, then of the in-tree driver."""
    data.update(trials=[], guest_mem=GUEST_MEM, size_mib=opts.hv_mib, poll_s=RESOLUTION_S,
                order="ext first, then in-tree (it has no exit)")
    guest = HvGuest(kernel, guest_files(kernel))
    try:
        vm = guest.vm
        data["guest_cmdline"] = vm.check("cat /proc/cmdline").strip()
        data["guest_release"] = vm.check("uname -r").strip()
        data["loads"] = []
        for driver in DRIVERS:
            loaded = attempt(guest, {"driver": driver}, lambda vm, r: load(vm, driver))
            data["loads"].append(loaded)
            if loaded["ok"] and not data.get("primes") and not opts.no_prime:
                with timing.stage("prime guest memory hv"):
                    data["primes"] = [dict(prime(vm, opts.balloon_timeout), driver=driver)]
            for rep in range(reps_for(opts, "hv") if loaded["ok"] else 0):
                record = {"rep": rep + 1, "driver": driver, "size_mib": opts.hv_mib}
                attempt(guest, record, lambda vm, r: measure(vm, r, opts))
                if record["ok"]:
                    print(f"  {describe(record)}: up {record['up_s']:.3f} s, "
                          f"down {record['down_s']:.3f} s", flush=True)
                data["trials"].append(record)
    except Exception as error:  # noqa: BLE001  a failed boot is a result too
        data["error"] = f"{type(error).__name__}: {error}"
        print(f"[hv] FAILED: {data['error'][:2000]}", flush=True)
    finally:
        data["boots"] = guest.boots
        data["reboots"] = guest.reboots
        guest.stop()


def summarize(trials: list[dict], resolution: float = RESOLUTION_S) -> dict:
    """{"up"|"down": {driver: summary (with rate_mib_s), "ratio": ours/in-tree medians,
    "flag": measure_vmw.slower()}}."""
    result = {}
    groups = by_key(trials, ("driver",))
    for direction in ("up", "down"):
        entry = result[direction] = {}
        for driver in DRIVERS:
            group = groups.get((driver,), [])
            if not group:
                continue
            s = summary([t[f"{direction}_s"] for t in group if t["ok"]], attempted=len(group))
            if s.get("n") and s["median"] > 0:
                s["rate_mib_s"] = round(group[0]["size_mib"] / s["median"], 1)
            entry[driver] = s
        if entry.get("ext", {}).get("n") and entry.get("in-tree", {}).get("n"):
            entry["ratio"] = round(entry["ext"]["median"] / entry["in-tree"]["median"], 3)
            entry["flag"] = slower(entry["ext"], entry["in-tree"], resolution)
    return result
