"""pytest fixtures: kernels to test on, the project built for each, and booted guests.

Run with Debian's interpreter: /usr/bin/python3 -m pytest tests/
KERNELS="6.1" (space-separated) picks the kernels; see harness/kernels.py.
"""
import os
from pathlib import Path

import pytest

from harness import timing
from harness.build import build_hog, build_modules
from harness.initramfs import make_initramfs
from harness.kernels import KERNELS, prepare_kernel
from harness.vm import VM

REPO = Path(__file__).resolve().parent.parent
KERNEL_NAMES = os.environ.get("KERNELS", "6.1").split()
# virtio_pci is the transport the guest init loads; virtio_balloon is for tests to modprobe.
DEFAULT_KERNEL_MODULES = ("virtio_pci", "virtio_balloon")
CORE_BALLOON = "virtio-balloon-pci,id=balloon0,deflate-on-oom=on,free-page-reporting=on"


def pytest_configure(config):
    unknown = [name for name in KERNEL_NAMES if name not in KERNELS]
    if unknown:
        raise pytest.UsageError(f"KERNELS: unknown {unknown}; known: {sorted(KERNELS)}")


def pytest_terminal_summary(terminalreporter):
    if timing.records:
        terminalreporter.ensure_newline()  # or a blank line follows the header
        terminalreporter.section("balloon-ext stage timings")
        for line in timing.report_lines():
            terminalreporter.write_line(line)


@pytest.fixture(scope="session", params=KERNEL_NAMES, ids=KERNEL_NAMES)
def kernel(request):
    return prepare_kernel(request.param)


@pytest.fixture(scope="session")
def built(kernel) -> Path:
    with timing.stage(f"build {kernel.name}"):
        return build_modules(kernel, REPO)


@pytest.fixture(scope="session")
def hog() -> Path:
    with timing.stage("build hog"):
        return build_hog(REPO)


@pytest.fixture(scope="session")
def boot(kernel, built, hog):
    """boot(config_name, ...) -> a running VM, shared by every test asking for that config.

    Project modules are in the guest's /ext/, the memory hog is /bin/hog. A guest
    that died (e.g. a test panicked it) is booted again on the next request.
    """
    modules = sorted(built.glob("*.ko")) + sorted((built / "tests" / "modules").glob("*.ko"))
    guest_files = {f"/ext/{ko.name}": ko for ko in modules} | {"/bin/hog": hog}
    vms: dict[str, tuple[VM, tuple]] = {}
    boots: dict[str, int] = {}

    def boot(config_name, devices=(), mem="1G", append="",
             kernel_modules=DEFAULT_KERNEL_MODULES) -> VM:
        arguments = (tuple(devices), mem, append, tuple(kernel_modules))
        if config_name in vms:
            vm, booted_with = vms[config_name]
            if booted_with != arguments:
                raise ValueError(f"config {config_name!r} was booted with {booted_with}, "
                                 f"now asked for {arguments}: use another config name")
            if vm.alive:
                return vm
            vm.stop()
        boots[config_name] = boots.get(config_name, 0) + 1
        # A reboot gets its own log, keeping the dead guest's console for post-mortem.
        name = f"{kernel.name}-{config_name}"
        if boots[config_name] > 1:
            name += f"-boot{boots[config_name]}"
        with timing.stage(f"initramfs {name}"):
            initrd = make_initramfs(kernel, guest_files, list(kernel_modules))
        with timing.stage(f"boot {name}"):
            vm = VM(kernel, initrd, mem=mem, devices=devices, append=append, name=name)
        vms[config_name] = (vm, arguments)
        return vm

    yield boot
    for config_name, (vm, _) in vms.items():
        with timing.stage(f"shutdown {kernel.name}-{config_name}"):
            vm.stop()


@pytest.fixture(scope="module")
def core_vm(boot) -> VM:
    """The common guest: 1 GiB, a virtio balloon with deflate-on-oom and free page reporting."""
    return boot("core", devices=(CORE_BALLOON,))
