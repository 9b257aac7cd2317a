"""The harness works: the guest runs the prepared kernel and answers on its console and QMP."""

GIB = 1024**3


def test_boot_console_and_qmp(core_vm, kernel):
    assert core_vm.check("uname -r").strip() == kernel.release

    # QEMU 7.2 answers from its device model even with no driver bound: 1 GiB, nothing inflated.
    assert core_vm.qmp("query-balloon") == {"actual": GIB}

    core_vm.check("modprobe virtio_balloon")
    try:
        bound = core_vm.check("ls /sys/bus/virtio/drivers/virtio_balloon").split()
        assert any(entry.startswith("virtio") for entry in bound), bound
    finally:
        core_vm.check("rmmod virtio_balloon")
