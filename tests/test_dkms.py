"""DKMS for real: each suite's own dkms installs balloon-ext, the kernel boots what it built.

In the kernel's suite chroot (bullseye for 5.10, bookworm for 6.1, trixie
for 6.12 and trixie-backports' 7.x, sid for 7.x), packaging/dkms-install.sh
runs `dkms add`, `dkms build` and `dkms install` for that kernel. A guest
then boots with exactly the module files dkms installed, and a smoke test
inflates its balloon; last, packaging/dkms-remove.sh must leave nothing.
vmw_balloon_ext is installed too and reaches the guest byte for byte; it
loads only on VMware (tests/test_vmw_packaging.py boots it there).
"""
import hashlib

import pytest

from harness import timing
from harness.dkms import MODULES, Dkms, guest_copy, using_suite
from harness.guest import REPO
from virtio_guest import MiB, balloon_to, driver, meminfo_kb, unload_all, wait_actual

SMOKE_MIB = 64


def smoke_test(vm, modules: dict[str, bytes]):
    """The dkms modules load, bind the balloon and report what it holds."""
    for name, digest in modules.items():
        assert vm.check(f"sha256sum /ext/{name}").split()[0] == digest, name
    unload_all(vm)
    vm.check("insmod /ext/balloon_core.ko && insmod /ext/virtio_balloon_ext.ko")
    assert driver(vm) == "virtio_balloon_ext"
    wait_actual(vm, vm.ram)
    balloon_to(vm, SMOKE_MIB * MiB)
    assert meminfo_kb(vm)["InflatedFree"] == SMOKE_MIB * 1024  # deflate-on-oom is on
    balloon_to(vm, 0)
    assert meminfo_kb(vm)["InflatedFree"] == 0
    unload_all(vm)


@pytest.mark.every_kernel
def test_dkms_install_boot_remove(kernel, boot, record_property):
    with timing.stage(f"chroot {kernel.spec.suite} for dkms {kernel.name}"):
        dkms = Dkms(kernel, REPO)  # makes the chroot, so before holding it
    with using_suite(kernel):
        record_property("dkms", dkms.version_of_dkms())
        with dkms.kernel_installed():
            with timing.stage(f"dkms install {kernel.name}"):
                dkms.install()
            status = dkms.status()
            assert f"{kernel.release}" in status and "installed" in status, status
            installed = dkms.installed_modules()
            names = sorted(path.name.split(".ko")[0] for path in installed)
            assert names == list(MODULES), installed  # all three: every kernel here is x86
            assert all("/updates/dkms/" in str(path) for path in installed), installed
            # The guest gets these files and nothing else of ours.
            files = {f"/ext/{name}.ko": guest_copy(path) for name, path in zip(names, installed)}
            digests = {f"{name}.ko": hashlib.sha256(files[f"/ext/{name}.ko"].read_bytes())
                       .hexdigest() for name in names}
            vm = boot("dkms", devices=("virtio-balloon-pci,id=balloon0,deflate-on-oom=on",),
                      extra_files=files)
            smoke_test(vm, digests)

            with timing.stage(f"dkms remove {kernel.name}"):
                dkms.remove()
            assert dkms.leftovers() == []
            assert "balloon-ext" not in dkms.status()
