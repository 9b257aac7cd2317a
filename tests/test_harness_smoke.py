"""The harness works: the guest runs the prepared kernel and answers on its console and QMP.

Its guest has none of the project's files, so it does not wait for (or fail
with) the project's build: on a kernel the project does not build for yet,
this test still shows that fetching, the initramfs and booting work.
"""
from pathlib import Path

import pytest

from harness import timing
from harness.guest import boot_vm, emulator_boot_oops
from harness.guest_logs import save_kernel_log
from harness.qemu import BINARY, Qemu
from harness.vm import QemuExited

GIB = 1024**3
BALLOON = "virtio-balloon-pci,id=balloon0,deflate-on-oom=on,free-page-reporting=on"


@pytest.fixture(scope="module")
def bare_vm(kernel):
    vm = boot_vm(kernel, {}, f"{kernel.name}-smoke", devices=(BALLOON,),
                 append=kernel.cmdline())
    yield vm
    with timing.stage(f"shutdown {kernel.name}-smoke"):
        save_kernel_log(vm)
        vm.stop()


@pytest.mark.every_kernel
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


def test_emulator_boot_oops_is_told_from_a_crash_of_ours():
    """Only the TCG int3 oops with none of our modules loaded earns a second boot."""
    # A real one: 6.12 died so at boot in a full CI run.
    console = (Path(__file__).parent / "data" / "6.12-boot-int3-oops.console.log").read_text()
    assert emulator_boot_oops(console)
    ours = console.replace("Modules linked in:", "Modules linked in: virtio_balloon_ext balloon_core")
    assert not emulator_boot_oops(ours)
    other = console.replace("Oops: int3", "Oops: general protection fault")
    assert not emulator_boot_oops(other)
    assert not emulator_boot_oops("")


def fake_qemu(folder: Path, first_run: str) -> Qemu:
    """A QEMU whose first run does `first_run` (shell) and whose later runs are the host's."""
    script = folder / "qemu"
    script.write_text("#!/bin/sh\n"
                      f"if [ ! -e {folder}/ran ]; then : >{folder}/ran; {first_run}; fi\n"
                      f'exec {BINARY} "$@"\n')
    script.chmod(0o755)
    return Qemu("fake", binary=script)


def test_a_qemu_killed_by_a_signal_at_boot_gets_one_more_boot(kernel, tmp_path, capsys):
    """An emulator crash before the shell costs a boot, not the tests; the crash is logged."""
    vm = boot_vm(kernel, {}, f"{kernel.name}-smoke-sigsegv",
                 qemu=fake_qemu(tmp_path, "ulimit -c 0; kill -SEGV $$"), append=kernel.cmdline())
    try:
        assert vm.check("uname -r").strip() == kernel.release
        assert vm.name.endswith("-reboot"), vm.name
        assert "QEMU died of signal 11 before the guest's shell" in capsys.readouterr().err
    finally:
        vm.stop()


def test_a_qemu_that_exits_at_boot_fails_the_boot(kernel, tmp_path):
    """An exit with a status is QEMU refusing its command line: no second boot,
    which here would have been the host's QEMU booting fine."""
    with pytest.raises(QemuExited) as error:
        boot_vm(kernel, {}, f"{kernel.name}-smoke-exit", qemu=fake_qemu(tmp_path, "exit 1"),
                append=kernel.cmdline())
    assert error.value.returncode == 1
