# SPDX-License-Identifier: GPL-2.0
"""Part "vmw": the in-tree vmw_balloon against vmw_balloon_ext, in each capability mode.

One boot of its own: a guest that believes it runs on VMware, against the
host model tests/vmw_host/vmw-balloon-host.c built into QEMU
(tests/harness/vmw_host.py), 2 GiB by default. Both drivers take turns in
that boot, the order rotated every repetition as in the other parts. In
each turn the driver is loaded fresh, and for each capability mode (2 MiB
pages 0x2e, 4 KiB batches 0x26, single pages 0x22) the host offers the
mode and forces a reset, then the balloon inflates by --vmw-mib and
deflates back to empty.

Two times per inflate and deflate, both polled every --vmw-poll seconds
through the host's QOM properties (QMP, no guest command on the way):

- end to end: from just before the host's qom-set of its target until the
  host's locked-frames equals it (then confirmed: the guest's vmmemctl
  current agrees, or the clock runs on until it does). Both drivers work
  from a delayed work item that runs once a second, so this includes
  0-1 s of waiting for the next tick: the tick's phase, not the driver.
- working time: from the first poll that sees the host's command counters
  move after the qom-set (the tick's GET_TARGET, or its first lock or
  unlock) until the same end. Both ends are seen up to one poll late, so
  the difference is unbiased to within a poll. This is what the
  "no slower" judgement uses: the driver's own speed, without the tick.
"""
import time

from harness_path import REPO  # first: makes the test harness importable
from harness import timing
from harness.build import build_modules, prepare_toolchain
from harness.guest import boot_vm
from harness.vmw_host import vmw_host_qemu

import bench_guest
from stats import by_key, summary
from trial import alternating, attempt, describe, reps_for
from vmw_guest import (CAPS_2M, CAPS_4K, CAPS_SINGLE, CPU, DEVICE_ID, FRAMES_PER_MIB,
                       KERNEL_MODULES, MACHINE, MODE_COMMANDS, SMBIOS, command_deltas,
                       host_commands, host_get, host_set, switch_caps, vmmemctl, wait_until)

GUEST_MEM = "2G"
# The compared drivers, named as in the other parts; "module" is what /sys/module shows.
DRIVERS = {
    "in-tree": {"module": "vmw_balloon", "load": "modprobe vmw_balloon"},
    "ext": {"module": "vmw_balloon_ext",
            "load": "insmod /ext/balloon_core.ko && insmod /ext/vmw_balloon_ext.ko"},
}
# Capability modes in the order each turn runs them: name -> caps offered.
MODES = {"2m": CAPS_2M, "4k": CAPS_4K, "single": CAPS_SINGLE}
MODE_TEXT = {"2m": "0x2e 2 MiB pages", "4k": "0x26 4 KiB batched", "single": "0x22 single pages"}
POLL_SECONDS = 0.025
# After the mode switch's reset, before the clock starts.
SETTLE_SECONDS = 0.5


class VmwGuest(bench_guest.Guest):
    """bench_guest.Guest, but on VMware: QEMU with the host model, vmport and VMware's DMI."""

    def __init__(self, kernel, files: dict, qemu, on_boot=None):
        super().__init__(kernel, files, "vmw", "", on_boot=on_boot)
        self.qemu = qemu

    def boot(self, name: str):
        return boot_vm(self.kernel, self.files, name,
                       devices=(f"vmw-balloon-host,id={DEVICE_ID}",), mem=GUEST_MEM,
                       append=self.append, kernel_modules=KERNEL_MODULES, qemu=self.qemu,
                       machine=MACHINE, cpu=CPU, extra_args=SMBIOS)


def guest_files(kernel) -> dict:
    """balloon_core.ko and vmw_balloon_ext.ko from the working tree, in /ext/."""
    with timing.stage(f"build modules {kernel.name}"):
        prepare_toolchain(kernel)
        built = build_modules(kernel, REPO)
    files = {f"/ext/{name}": built / name for name in ("balloon_core.ko", "vmw_balloon_ext.ko")}
    for path in files.values():
        if not path.exists():
            raise FileNotFoundError(f"the build made no {path}")
    return files


def loaded_drivers(vm) -> list[str]:
    return [name for name, d in DRIVERS.items()
            if vm.run(f"test -e /sys/module/{d['module']}")[0] == 0]


def empty_balloon(vm, timeout: float):
    """Host target 0 and wait until the guest and the host both hold nothing."""
    host_set(vm, "target", 0)
    wait_until(vm, lambda s: s["guest current"] == 0 and s["host locked"] == 0,
               "an empty balloon", timeout, interval=0.2)


def unload(vm, timeout: float):
    """Both drivers out. The in-tree one only with an empty balloon: with 2 MiB pages in
    it, its rmmod never returns (reference/vmware-protocol.md 6.0)."""
    loaded = loaded_drivers(vm)
    if loaded:
        empty_balloon(vm, timeout)
    for name in loaded:
        vm.check(f"rmmod {DRIVERS[name]['module']}", timeout=300)
    vm.run("rmmod balloon_core")


def load(vm, name: str, timeout: float):
    """`name` alone, freshly loaded, STARTed with 2 MiB pages granted, the balloon empty."""
    unload(vm, timeout)
    host_set(vm, "caps", CAPS_2M)
    host_set(vm, "target", 0)
    vm.check(DRIVERS[name]["load"])
    vmmemctl(vm)  # the in-tree driver's statistics count from the first read: both read it
    wait_until(vm, lambda s: s["resetting"] == "n" and s["host granted"] == CAPS_2M,
               f"{name} STARTed", timeout, interval=0.2)


def on_boot(vm, first_driver: str, opts, primes: list):
    """vmw_vmci (ours imports its doorbell calls), then one cycle over all free memory but
    --prime-margin-mib in 4 KiB batches, so that no measured run finds host memory that
    was never discarded (see the README's priming note)."""
    vm.check("modprobe vmw_vmci")
    if opts.no_prime:
        return
    with timing.stage("prime host memory vmw"):
        try:
            load(vm, first_driver, opts.balloon_timeout)
            switch_caps(vm, CAPS_4K, opts.balloon_timeout)
            free_mib = int(vm.check("grep '^MemFree:' /proc/meminfo").split()[1]) // 1024
            record = {"driver": first_driver, "size_mib": free_mib - opts.prime_margin_mib}
            for direction, frames in (("inflate", record["size_mib"] * FRAMES_PER_MIB),
                                      ("deflate", 0)):
                record[f"{direction}_s"] = round(
                    move(vm, frames, "batchLock" if frames else "batchUnlock",
                         opts.balloon_timeout, opts.vmw_poll)["end_to_end_s"], 2)
            unload(vm, opts.balloon_timeout)
        except Exception as error:  # noqa: BLE001  measured runs show what it cost
            record = {"error": f"{type(error).__name__}: {error}"}
            print(f"[vmw] priming failed: {error}", flush=True)
        primes.append(record)


def move(vm, frames: int, command: str, timeout: float, poll: float) -> dict:
    """Set the host's target to `frames`; time it until the host holds that and the guest
    agrees. `command` is the host counter of the mode's lock (or unlock).

    Returns end_to_end_s, work_s (from the first command counter that moved after the
    qom-set), lock_s (from the first `command` seen), confirm_s (the guest's vmmemctl
    read that confirmed), polls, and the host's command counts over the operation.
    """
    before = host_commands(vm)
    start = time.monotonic()
    host_set(vm, "target", frames)
    # Read after the qom-set returns: a GET_TARGET counted from here read the new target.
    base = host_commands(vm)
    first = first_lock = None
    polls = 0
    while True:
        if first_lock is None:
            counts = host_commands(vm)
            now = time.monotonic()
            if counts.get(command, 0) > base.get(command, 0):
                first_lock = now
            if first is None and (first_lock or counts["target"] > base["target"]):
                first = now
        locked = host_get(vm, "locked-frames")
        now = time.monotonic()
        polls += 1
        if locked == frames:
            break
        if now - start > timeout:
            raise TimeoutError(f"host locked {locked} frames after {timeout:g} s, "
                               f"target {frames}")
        time.sleep(poll)
    end = now
    # Done before a poll saw the command counters move (within one poll): no working
    # time to see but zero.
    first = end if first is None else first
    first_lock = end if first_lock is None else first_lock
    guest = vmmemctl(vm)
    confirmed = time.monotonic()
    if guest["current"] != frames or guest["target"] != frames:
        # The host counted the last lock; the guest has not yet: wait and take that time.
        wait_until(vm, lambda s: s["guest current"] == s["host locked"] == frames
                   and s["guest target"] == frames, f"the guest at {frames} frames",
                   timeout, interval=poll)
        end = time.monotonic()
    return {"end_to_end_s": round(end - start, 3), "work_s": round(end - first, 3),
            "lock_s": round(end - first_lock, 3), "confirm_s": round(confirmed - end, 3),
            "polls": polls, "commands": command_deltas(before, host_commands(vm))}


def measure_mode(vm, record: dict, opts):
    """Offer the mode, then inflate by record["size_mib"] and deflate to empty."""
    caps = MODES[record["mode"]]
    host_set(vm, "target", 0)
    s = switch_caps(vm, caps, opts.balloon_timeout)
    if s["guest caps"] != caps or s["guest current"] != 0:
        raise RuntimeError(f"mode {caps:#x} not taken up: {s}")
    lock, unlock = MODE_COMMANDS[caps]
    for direction, frames, command in (("inflate", record["size_mib"] * FRAMES_PER_MIB, lock),
                                       ("deflate", 0, unlock)):
        time.sleep(SETTLE_SECONDS)
        result = move(vm, frames, command, opts.balloon_timeout, opts.vmw_poll)
        for key, value in result.items():
            record[f"{direction}_{key}"] = value
        others = {c for pair in MODE_COMMANDS.values() for c in pair} - {lock, unlock}
        if others & result["commands"].keys():
            raise RuntimeError(f"{direction} in mode {caps:#x} used {result['commands']}")
    if host_get(vm, "locked-2m") and caps != CAPS_2M:
        raise RuntimeError("2 MiB pages locked outside the 2 MiB mode")


def run_turn(guest, opts, trials: list, rep: int, driver: str):
    """One driver's turn: load it fresh, then every mode once."""
    records = [{"rep": rep, "driver": driver, "mode": mode, "size_mib": opts.vmw_mib}
               for mode in MODES]
    loaded: dict = {}

    def measure(vm, record):
        if not loaded:
            load(vm, driver, opts.balloon_timeout)
            loaded[driver] = True
        measure_mode(vm, record, opts)

    for record in records:
        attempt(guest, record, measure)
        if record["ok"]:
            print(f"  {describe(record)}: inflate work {record['inflate_work_s']:.3f} s "
                  f"(end to end {record['inflate_end_to_end_s']:.2f} s), deflate work "
                  f"{record['deflate_work_s']:.3f} s "
                  f"(end to end {record['deflate_end_to_end_s']:.2f} s)", flush=True)
        elif guest.alive:
            # Whatever state the failure left: a stuck balloon would hang the in-tree rmmod.
            try:
                guest.vm.run("true")
                empty_balloon(guest.vm, 120)
            except Exception:  # noqa: BLE001  boot again rather than hang
                guest.vm.stop()
            loaded.clear()
        else:
            loaded.clear()
        trials.append(record)
    if guest.alive:
        try:
            unload(guest.vm, opts.balloon_timeout)
        except Exception as error:  # noqa: BLE001  the next turn gets a fresh guest
            print(f"  unload after {driver} failed: {error}; stopping the guest", flush=True)
            guest.vm.stop()


def run(kernel, opts, data: dict):
    """Boot the VMware guest and run every repetition; fills data["trials"] as it goes."""
    drivers = list(DRIVERS)
    data.update(trials=[], primes=[], guest_mem=GUEST_MEM, size_mib=opts.vmw_mib,
                poll_s=opts.vmw_poll)
    with timing.stage("vmw host QEMU"):
        qemu = vmw_host_qemu()
    guest = VmwGuest(kernel, guest_files(kernel), qemu,
                     on_boot=lambda vm: on_boot(vm, drivers[0], opts, data["primes"]))
    try:
        vm = guest.vm
        data["guest_cmdline"] = vm.check("cat /proc/cmdline").strip()
        data["guest_release"] = vm.check("uname -r").strip()
        for rep in range(reps_for(opts, "vmw")):
            for driver in alternating(drivers, rep):
                run_turn(guest, opts, data["trials"], rep + 1, driver)
    except Exception as error:  # noqa: BLE001  a failed boot is a result too
        data["error"] = f"{type(error).__name__}: {error}"
        print(f"[vmw] FAILED: {data['error'][:2000]}", flush=True)
    finally:
        data["boots"] = guest.boots
        data["reboots"] = guest.reboots
        guest.stop()


def slower(ours: dict, stock: dict, resolution: float) -> str:
    """How ours compares, from its median, range and the timing resolution.

    "SLOWER": every run of ours slower than every in-tree run, by more than two polls
    between the medians; "slower?": a median more than 5 % and two polls slower, the
    ranges overlapping; "" otherwise.
    """
    if not ours.get("n") or not stock.get("n"):
        return ""
    gap = ours["median"] - stock["median"]
    if gap <= 2 * resolution:
        return ""
    if ours["min"] > stock["max"]:
        return "SLOWER"
    return "slower?" if ours["median"] > 1.05 * stock["median"] else ""


def summarize(trials: list[dict], poll: float = POLL_SECONDS) -> dict:
    """{"<mode> <direction>": {"in-tree"|"ext": {"work", "end_to_end", "lock"}: summaries
    (with rate_mib_s = size / median), "ratio_work", "ratio_end_to_end": ours/in-tree
    medians ("within one poll" where both are), "flag": see slower()}}."""
    result = {}
    groups = by_key(trials, ("mode", "driver"))
    for mode in MODES:
        for direction in ("inflate", "deflate"):
            entry = result[f"{mode} {direction}"] = {}
            for driver in DRIVERS:
                group = groups.get((mode, driver), [])
                if not group:
                    continue
                per = entry[driver] = {}
                for kind in ("work", "end_to_end", "lock"):
                    s = summary([t[f"{direction}_{kind}_s"] for t in group if t["ok"]],
                                attempted=len(group))
                    size = group[0]["size_mib"]
                    if s.get("n") and s["median"] > 0:
                        s["rate_mib_s"] = round(size / s["median"], 1)
                        s["rate_min_mib_s"] = round(size / s["max"], 1) if s["max"] else None
                        s["rate_max_mib_s"] = round(size / s["min"], 1) if s["min"] else None
                    per[kind] = s
                ok = [t for t in group if t["ok"]]
                if ok:
                    per["commands"] = ok[0][f"{direction}_commands"]
            if "in-tree" in entry and "ext" in entry:
                for kind in ("work", "end_to_end"):
                    a, b = entry["ext"][kind], entry["in-tree"][kind]
                    if not (a.get("n") and b.get("n")):
                        continue
                    if max(a["median"], b["median"]) < poll:
                        entry[f"ratio_{kind}"] = "within one poll"
                    elif b["median"]:
                        entry[f"ratio_{kind}"] = round(a["median"] / b["median"], 3)
                entry["flag"] = slower(entry["ext"]["work"], entry["in-tree"]["work"], poll)
    return result
