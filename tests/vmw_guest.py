"""Driving a guest that believes it runs on VMware, against our host model of the balloon.

The host is tests/vmw_host/vmw-balloon-host.c, built into QEMU by
harness/vmw_host.py. The guest detects VMware through DMI (the SMBIOS
serial) plus QEMU's vmport answering the backdoor's GETVERSION, which the
kernel only tries when CPUID has no hypervisor bit. The in-tree vmw_vmci
and vmw_balloon are in the initramfs, not loaded.
"""
import re
import time

DEVICE_ID = "vmwb"
HOST_PATH = f"/machine/peripheral/{DEVICE_ID}"
MACHINE = "q35,vmport=on"
CPU = "max,-hypervisor"
# "VMware, Inc." with QEMU's doubled comma; the serial is what the kernel checks.
SMBIOS = ("-smbios", "type=1,manufacturer=VMware,, Inc.,product=VMware Virtual Platform,"
          "serial=VMware-564d0000")
KERNEL_MODULES = ("virtio_pci", "vmw_vmci", "vmw_balloon")
VMMEMCTL = "/sys/kernel/debug/vmmemctl"
FRAMES_PER_MIB = 256

# Capability sets the tests offer: 2 MiB pages, 4 KiB batches, single pages.
CAPS_2M, CAPS_4K, CAPS_SINGLE = 0x2e, 0x26, 0x22
# Host command counters (the "commands" property) each mode locks and unlocks with.
MODE_COMMANDS = {CAPS_2M: ("2m-lock", "2m-unlock"), CAPS_4K: ("batchLock", "batchUnlock"),
                 CAPS_SINGLE: ("lock", "unlock")}
# The in-tree driver stops deflating up to 511 frames above a non-zero target.
DEFLATE_SLACK = 512


def boot_vmware(boot, qemu, config_name="vmware", mem="1G", extra_files=None, **host_props):
    """A guest of the `boot` fixture on QEMU `qemu` (harness.vmw_host.vmw_host_qemu())
    with -device vmw-balloon-host,id=vmwb and host_props (underscores become dashes)."""
    props = "".join(f",{key.replace('_', '-')}={value}" for key, value in host_props.items())
    return boot(config_name, devices=(f"vmw-balloon-host,id={DEVICE_ID}{props}",), mem=mem,
                kernel_modules=KERNEL_MODULES, qemu=qemu, machine=MACHINE, cpu=CPU,
                extra_args=SMBIOS, extra_files=extra_files)


def host_get(vm, prop: str):
    return vm.qmp("qom-get", path=HOST_PATH, property=prop)


def host_set(vm, prop: str, value):
    vm.qmp("qom-set", path=HOST_PATH, property=prop, value=value)


def host_commands(vm) -> dict[str, int]:
    """The host's per-command counters, e.g. {"start": 1, "2m-lock": 3, ...}."""
    return {name: int(value) for name, value in
            (item.split("=") for item in host_get(vm, "commands").split())}


def command_deltas(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before.get(name, 0) for name in after
            if after[name] != before.get(name, 0)}


def parse_vmmemctl(text: str) -> dict:
    """vmmemctl as a dict: the first "target" is the size; the command lines
    ("N (M failed)") go to d["ops"][name] = (N, M); "alloc   (4k)" becomes "alloc(4k)"."""
    d: dict = {"ops": {}}
    for line in text.splitlines():
        if ":" not in line:
            continue
        key, value = (part.strip() for part in line.split(":", 1))
        key = re.sub(r"\s+\(", "(", key)
        if match := re.fullmatch(r"(\d+) \((\d+) failed\)", value):
            d["ops"][key] = (int(match.group(1)), int(match.group(2)))
        elif key not in d:
            d[key] = int(value, 0) if re.fullmatch(r"0x[0-9a-f]+|\d+", value) else value
    return d


def vmmemctl(vm) -> dict:
    return parse_vmmemctl(vm.check(f"cat {VMMEMCTL}"))


def state(vm) -> dict:
    """What both sides say now, for conditions and failure messages."""
    guest = vmmemctl(vm)
    return {"guest target": guest["target"], "guest current": guest["current"],
            "guest caps": guest["used capabilities"], "resetting": guest["is resetting"],
            "host target": host_get(vm, "target"), "host locked": host_get(vm, "locked-frames"),
            "host granted": host_get(vm, "granted")}


def wait_until(vm, condition, what: str, timeout: float = 900, interval: float = 1.0) -> dict:
    """Poll state(vm) until condition(state) holds; the deadline only bounds a hang."""
    deadline = time.monotonic() + timeout
    while True:
        now = state(vm)
        if condition(now):
            return now
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s; last state {now}")
        time.sleep(interval)


def in_step(s: dict) -> bool:
    """Guest and host agree on the balloon, and the guest is not mid-reset."""
    return (s["guest current"] == s["host locked"] and s["guest caps"] == s["host granted"]
            and s["resetting"] == "n" and s["guest target"] == s["host target"])


def balloon_to(vm, frames: int, timeout: float = 900) -> dict:
    """Set the host's target and wait until the guest holds it (for a deflate to a
    non-zero target, up to the driver's slack above it) and both sides agree."""
    host_set(vm, "target", frames)

    def reached(s):
        over = s["guest current"] - frames
        done = over == 0 if frames == 0 or over <= 0 else over < DEFLATE_SLACK
        return in_step(s) and done
    return wait_until(vm, reached, f"balloon at {frames} frames", timeout)


def force_reset(vm, timeout: float = 900) -> dict:
    """Answer the guest's next command with ERROR_RESET; wait for its next START
    and until both sides agree again (the balloon may still be refilling)."""
    starts = host_commands(vm)["start"]
    host_set(vm, "force-reset", 1)
    return wait_until(vm, lambda s: in_step(s) and host_get(vm, "force-reset") == 0
                      and host_commands(vm)["start"] > starts,
                      "the driver's START after a forced reset", timeout)


def switch_caps(vm, caps: int, timeout: float = 900) -> dict:
    """Offer `caps` and make the driver START again, through one forced ERROR_RESET."""
    host_set(vm, "caps", caps)
    s = force_reset(vm, timeout)
    assert s["host granted"] == caps, s
    return s


def qemu_rss_kb(vm) -> int:
    """QEMU's resident set on the host (the VM's process is QEMU itself, not a chroot)."""
    status = open(f"/proc/{vm.proc.pid}/status").read()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))
