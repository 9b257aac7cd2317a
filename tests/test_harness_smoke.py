"""The harness works: the guest runs the prepared kernel and answers on its console and QMP.

Its guest has none of the project's files, so it does not wait for (or fail
with) the project's build: on a kernel the project does not build for yet,
this test still shows that fetching, the initramfs and booting work.
"""
import pytest

from harness import timing
from harness.guest import boot_vm

GIB = 1024**3
BALLOON = "virtio-balloon-pci,id=balloon0,deflate-on-oom=on,free-page-reporting=on"


@pytest.fixture(scope="module")
def bare_vm(kernel):
    vm = boot_vm(kernel, {}, f"{kernel.name}-smoke", devices=(BALLOON,),
                 append=kernel.cmdline())
    yield vm
    with timing.stage(f"shutdown {kernel.name}-smoke"):
        vm.stop()


def test_boot_console_and_qmp(bare_vm, kernel):
    assert bare_vm.check("uname -r").strip() == kernel.release

    # QEMU 7.2 answers from its device model even with no driver bound: 1 GiB, nothing inflated.
    assert bare_vm.qmp("query-balloon") == {"actual": GIB}

    # The in-tree driver, shipped .ko.xz from 6.12 on and decompressed by the initramfs builder.
    bare_vm.check("modprobe virtio_balloon")
    try:
        bound = bare_vm.check("ls /sys/bus/virtio/drivers/virtio_balloon").split()
        assert any(entry.startswith("virtio") for entry in bound), bound
    finally:
        bare_vm.check("rmmod virtio_balloon")
