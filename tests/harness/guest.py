"""Put the project into a guest: its modules in /ext/, the hog in /bin/hog, then boot.

Shared by the pytest fixtures and by make demo, so both boot the same guest.
"""
import re
import sys
from pathlib import Path

from . import timing
from .build import build_hog, build_modules
from .initramfs import make_initramfs
from .kernels import Kernel, prepare_kernel
from .qemu import HOST, Qemu
from .vm import VM, GuestTimeout, QemuExited

REPO = Path(__file__).resolve().parents[2]
# virtio_pci is the transport init loads; virtio_balloon is for tests to modprobe.
DEFAULT_KERNEL_MODULES = ("virtio_pci", "virtio_balloon")


def guest_files(built: Path, hog: Path) -> dict[str, Path]:
    modules = sorted(built.glob("*.ko")) + sorted((built / "tests" / "modules").glob("*.ko"))
    return {f"/ext/{ko.name}": ko for ko in modules} | {"/bin/hog": hog}


# Modules of ours that could be loaded when a kernel oopses.
OUR_MODULES = ("balloon_core", "virtio_balloon_ext", "vmw_balloon_ext", "hv_balloon_ext")


def emulator_boot_oops(console: str) -> bool:
    """Whether `console` shows the TCG code-patching crash, with none of our modules loaded.

    Under TCG a kernel switching a static key, while the other vCPU runs
    through the patched site, now and then dies with "Oops: int3" (vm.py,
    BASE_CMDLINE). tsc=unstable keeps the sched_clock key still; a full run
    at 6568768 saw two of nine 6.12 boots die so in run_timer_softirq, 1.2 s
    into boot, before init had loaded anything.
    """
    if "Oops: int3" not in console:
        return False
    loaded = re.findall(r"Modules linked in:(.*)", console)
    return not any(module in line for line in loaded for module in OUR_MODULES)


def boot_vm(kernel: Kernel, files: dict[str, Path], name: str, devices=(), mem="1G",
            append="", kernel_modules=DEFAULT_KERNEL_MODULES, qemu: Qemu = HOST,
            tcg_threads: str = "multi", **machine) -> VM:
    """Boot a guest; one that hits emulator_boot_oops() before its shell,
    that printed not one byte in BOOT_TIMEOUT, or whose QEMU died of a
    signal before the shell, is booted once more.

    A silent boot never reached the kernel's console: the CI run at 6d68d3d
    saw trixie's QEMU run 300 s with no output, once, cause unknown. The CI
    run at 0624217 saw QEMU 7.2 die of SIGSEGV booting 5.10 under
    multi-threaded TCG, before the shell, so before any balloon driver
    had touched the host model; twenty boots of that guest here did not
    repeat it. The dead boot's console and QEMU's state stay in the first
    attempt's logs; a second such failure, or any other, fails. `machine`
    holds VM's machine, cpu and extra_args, if given.
    """
    with timing.stage(f"initramfs {name}"):
        initrd = make_initramfs(kernel, files, list(kernel_modules))
    for attempt_name in (name, f"{name}-reboot"):
        try:
            with timing.stage(f"boot {attempt_name}"):
                return VM(kernel, initrd, mem=mem, devices=devices, append=append,
                          name=attempt_name, qemu=qemu, tcg_threads=tcg_threads, **machine)
        except QemuExited as error:
            if attempt_name != name:
                raise
            if emulator_boot_oops(error.console):
                print(f"{name}: the kernel died at boot with TCG's int3 oops, none of our "
                      f"modules loaded; booting once more (first console: "
                      f"{attempt_name}.console.log)", file=sys.stderr, flush=True)
            elif error.returncode is not None and error.returncode < 0:
                print(f"{name}: QEMU died of signal {-error.returncode} before the guest's "
                      f"shell; booting once more (first logs: {attempt_name}.*.log)",
                      file=sys.stderr, flush=True)
            else:
                raise
        except GuestTimeout as error:
            if attempt_name != name or not error.silent:
                raise
            print(f"{name}: the guest printed nothing at boot; booting once more. "
                  f"The silent attempt: {error}", file=sys.stderr, flush=True)
    raise AssertionError("unreachable")


def boot_guest(kernel_name: str, config_name: str, **vm_args) -> VM:
    """Fetch, build and boot in one call, for scripts outside pytest."""
    with timing.stage(f"prepare {kernel_name}"):
        kernel = prepare_kernel(kernel_name)
    with timing.stage(f"build {kernel_name}"):
        built = build_modules(kernel, REPO)
    with timing.stage("build hog"):
        hog = build_hog(REPO)
    return boot_vm(kernel, guest_files(built, hog), f"{kernel_name}-{config_name}", **vm_args)
