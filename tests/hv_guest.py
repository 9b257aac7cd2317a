"""Driving a guest whose Hyper-V Dynamic Memory host is the simulated one (tests/hv_host).

The guest is a plain q35 TCG guest: hv_sim_vmbus.ko (harness/hv_host.py)
plays VMBus and the DM host inside it, and a balloon driver, the in-tree
hv_balloon.ko unmodified, binds its one device. Two traps
(reference/hyperv-protocol.md, 4.4): with ACPI S4 offered the driver goes
into hibernation mode and ignores balloon requests, so S4 is off; hot-add
needs RAM above the `mem=` limit, so QEMU gives the guest more than `mem=`.
Both modules are loaded with insmod: hv_balloon's `depends: hv_vmbus` would
make modprobe pull in the real hv_vmbus, which refuses to load off Hyper-V.
Where vmbus is built into vmlinux (7.x), the guest's hv_balloon_ext.ko is
the redirected test build (harness/hv_host.py), and only it can bind.
"""
import re
import time

from harness.build import build_static
from harness.guest import REPO
from harness.hv_host import build_hv_sim, in_tree_balloon, redirected_driver, vmbus_builtin
from harness.timing import stage

SIM_DIR = "/sys/kernel/debug/hv_sim"
SIM_KO = "/ext/hv_sim_vmbus.ko"
OFFLINE_TOOL = "/bin/hv-offline"  # tests/guest/hv-offline.c
IN_TREE_KO = "/ext/hv_balloon-in-tree.ko"
EXT_KO = "/ext/hv_balloon_ext.ko"
HV_BALLOON = "/sys/kernel/debug/hv-balloon"
# QEMU's RAM, and the kernel's limit below it: 512 MiB (four 128 MiB memory
# blocks, PFN 0x40000 to 0x60000) are there for hot-add.
QEMU_MEM = "1536M"
MEM_LIMIT = "mem=1G"
HOT_ADD_PFN = 0x40000
# A debug kernel's guest gets twice the RAM (conftest's boot), 3 GiB: q35 puts
# 2 GiB below 4 GiB and the rest at 4 GiB, so the limit is 2 GiB (KASAN and
# kmemleak take much of it) and hot-add goes at 4 GiB.
DEBUG_MEM_LIMIT = "mem=2G"
DEBUG_HOT_ADD_PFN = 0x100000
BLOCK_PAGES = 0x8000  # 128 MiB, the memory block size of guests this small
S4_OFF = ("-global", "ICH9-LPC.disable_s4=1")
# 6.12 onlines hot-added memory by its config; 5.10 and 6.1 need telling.
AUTO_ONLINE = {"5.10": False, "6.1": False}
# The state names of hv-balloon's "state" line.
DM_INITIALIZED = 1


def boot_hv(boot, kernel, config_name="hv", s4=False):
    """A guest of the `boot` fixture with the simulated host's module (built for
    `kernel`), the in-tree driver and hv-offline in place; vm.hot_add_pfn is
    where its RAM above the mem= limit starts. ACPI S4 is off unless `s4`."""
    with stage(f"hv_host module {kernel.name}"):
        sim_ko = build_hv_sim(kernel)
    in_tree_ko = in_tree_balloon(kernel)
    offline_tool = build_static(REPO / "tests" / "guest" / "hv-offline.c")
    extra_files = {SIM_KO: sim_ko, IN_TREE_KO: in_tree_ko, OFFLINE_TOOL: offline_tool}
    if vmbus_builtin(kernel):
        # 7.x: ours with its vmbus calls redirected to the simulated host, in
        # the place of the plain build; the in-tree driver cannot bind here.
        extra_files[EXT_KO] = redirected_driver(kernel, REPO, sim_ko)
    debug = bool(kernel.spec.debug_of)
    append = DEBUG_MEM_LIMIT if debug else MEM_LIMIT
    if not AUTO_ONLINE.get(kernel.stock, True):
        append += " memhp_default_state=online"
    vm = boot(config_name, mem=QEMU_MEM, append=append, kernel_modules=("virtio_pci",),
              extra_args=() if s4 else S4_OFF, extra_files=extra_files)
    vm.hot_add_pfn = DEBUG_HOT_ADD_PFN if debug else HOT_ADD_PFN
    return vm


def load(vm, driver_ko: str, refuse_versions=(), pressure_report_delay: int = 3):
    """insmod the simulated host (refusing the given versions), then the driver."""
    args = ""
    if refuse_versions:
        args = " refuse_versions=" + ",".join(f"0x{v:x}" for v in refuse_versions)
    vm.check(f"insmod {SIM_KO}{args}")
    vm.check(f"insmod {driver_ko} pressure_report_delay={pressure_report_delay}")


def parse_keyed(text: str) -> dict:
    """'key: value' lines; decimal and 0x numbers become ints."""
    d = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        key, value = (part.strip() for part in line.split(":", 1))
        d[key] = int(value, 0) if re.fullmatch(r"-?\d+|0x[0-9a-f]+", value) else value
    return d


def host(vm) -> dict:
    """The simulated host's view (hv_sim's state file)."""
    return parse_keyed(vm.check(f"cat {SIM_DIR}/state"))


def request(vm, command: str) -> tuple[int, str]:
    """Write one command to the host; (exit status, output) of the write."""
    return vm.run(f"echo '{command}' > {SIM_DIR}/request")


def ask(vm, command: str):
    rc, out = request(vm, command)
    assert rc == 0, f"hv_sim request {command!r} failed: {out}"


def hv_balloon(vm) -> dict | None:
    """The driver's debugfs file, or None where it has none (5.10's in-tree driver)."""
    rc, out = vm.run(f"cat {HV_BALLOON}")
    return parse_keyed(out) if rc == 0 else None


def meminfo(vm) -> dict[str, int]:
    """/proc/meminfo in kB."""
    return {key: int(value.split()[0]) for key, value in
            (line.split(":", 1) for line in vm.check("cat /proc/meminfo").splitlines())}


def state(vm) -> dict:
    """Both sides now, for conditions and failure messages."""
    return {"host": host(vm), "guest": hv_balloon(vm), "MemTotal": meminfo(vm)["MemTotal"]}


def wait_until(vm, condition, what: str, timeout: float = 600, interval: float = 0.5) -> dict:
    """Poll state(vm) until condition(state) holds; the deadline only bounds a hang."""
    deadline = time.monotonic() + timeout
    while True:
        now = state(vm)
        if condition(now):
            return now
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s; last state {now}")
        time.sleep(interval)


def settled(s: dict) -> bool:
    """No request of the host's is open, and the driver (where it says) is idle and
    counts the pages the host holds."""
    h, g = s["host"], s["guest"]
    idle = not (h["balloon_pending"] or h["unballoon_pending"] or h["hot_add_pending"]
                or h["queued"])
    if g is None:
        return idle
    return (idle and g["state"].startswith(f"{DM_INITIALIZED} ")
            and g["pages_ballooned"] == h["held_pages"])


def wait_settled(vm, what: str) -> dict:
    return wait_until(vm, settled, what)


def empty_around(vm):
    """For a fixture: `vm` with nothing ballooned and no request open, before
    the test and, once everything is given back, after it."""
    s = wait_settled(vm, "the host idle before the test")
    assert s["host"]["held_pages"] == 0, s
    yield vm
    if vm.alive:
        held = host(vm)["held_pages"]
        if held:
            ask(vm, f"unballoon {held}")
        wait_until(vm, lambda s: s["host"]["held_pages"] == 0 and
                   not s["host"]["unballoon_pending"], "everything given back")


def offline_pages(vm) -> dict[str, int]:
    """{"held": pages the host holds, "offline-held": those of them PageOffline,
    "offline-all": every PageOffline page of the guest}, from /proc/kpageflags."""
    words = vm.check(f"{OFFLINE_TOOL} {1 << 21:#x}").split()
    return {words[i]: int(words[i + 1]) for i in range(0, len(words), 2)}


def memory_block_state(vm, pfn: int) -> str:
    """online/offline of the memory block holding pfn."""
    block_bytes = int(vm.check("cat /sys/devices/system/memory/block_size_bytes"), 16)
    index = pfn * 4096 // block_bytes
    return vm.check(f"cat /sys/devices/system/memory/memory{index}/state").strip()
