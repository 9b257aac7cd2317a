"""Put the project into a guest: its modules in /ext/, the hog in /bin/hog, then boot.

Shared by the pytest fixtures and by make demo, so both boot the same guest.
"""
from pathlib import Path

from . import timing
from .build import build_hog, build_modules
from .initramfs import make_initramfs
from .kernels import Kernel, prepare_kernel
from .qemu import HOST, Qemu
from .vm import VM

REPO = Path(__file__).resolve().parents[2]
# virtio_pci is the transport init loads; virtio_balloon is for tests to modprobe.
DEFAULT_KERNEL_MODULES = ("virtio_pci", "virtio_balloon")


def guest_files(built: Path, hog: Path) -> dict[str, Path]:
    modules = sorted(built.glob("*.ko")) + sorted((built / "tests" / "modules").glob("*.ko"))
    return {f"/ext/{ko.name}": ko for ko in modules} | {"/bin/hog": hog}


def boot_vm(kernel: Kernel, files: dict[str, Path], name: str, devices=(), mem="1G",
            append="", kernel_modules=DEFAULT_KERNEL_MODULES, qemu: Qemu = HOST) -> VM:
    with timing.stage(f"initramfs {name}"):
        initrd = make_initramfs(kernel, files, list(kernel_modules))
    with timing.stage(f"boot {name}"):
        return VM(kernel, initrd, mem=mem, devices=devices, append=append, name=name,
                  qemu=qemu)


def boot_guest(kernel_name: str, config_name: str, **vm_args) -> VM:
    """Fetch, build and boot in one call, for scripts outside pytest."""
    with timing.stage(f"prepare {kernel_name}"):
        kernel = prepare_kernel(kernel_name)
    with timing.stage(f"build {kernel_name}"):
        built = build_modules(kernel, REPO)
    with timing.stage("build hog"):
        hog = build_hog(REPO)
    return boot_vm(kernel, guest_files(built, hog), f"{kernel_name}-{config_name}", **vm_args)
