"""packaging/modprobe.d/balloon-ext.conf with the real kmod, doing what udev
does at boot: `modprobe -b <the device's modalias>`.

busybox modprobe ignores `install` lines, so the guest gets the host's kmod
and its libraries at their usual paths, and /sbin/modprobe and /sbin/depmod
become kmod (it picks the tool by argv[0]). busybox sh runs its own applet
for a bare "modprobe", so commands name /sbin/modprobe, as the config's
install line does. The guest's module tree is rebuilt with kmod's depmod,
as a DKMS install would leave it. The rule is installed by
packaging/install-files.sh, as make dkms-install does: the guest's /lib is a
directory of its own, not a link to /usr/lib, so it must land in
/lib/modprobe.d, the place kmod up to 30 reads. Own boot ("modprobe"): it
replaces the guest's modprobe.
"""
import re
import subprocess
from pathlib import Path

import pytest

from harness.guest import REPO
from virtio_guest import device, driver

# What install-files.sh installs, at their checkout paths under /src.
PACKAGING = ("packaging/install-files.sh", "packaging/modprobe.d/balloon-ext.conf",
             "packaging/initramfs-tools/hooks/balloon-ext", "packaging/dracut/balloon-ext.conf",
             "tools/balloon-ext")
DEVICE = "virtio-balloon-pci,id=balloon0,deflate-on-oom=on"
KMOD = Path("/usr/bin/kmod")
INSTALL = Path("/usr/bin/install")  # busybox has no install applet
DRIVERS = "/sys/bus/virtio/drivers"
PROJECT_MODULES = ("balloon_core.ko", "virtio_balloon_ext.ko")
MODPROBE = "/sbin/modprobe"
DEPMOD = "/sbin/depmod -a"


def host_tool_files(tool: Path) -> dict[str, Path]:
    """A host program and every shared library ldd names, each at its host path."""
    out = subprocess.run(["ldd", str(tool)], check=True, capture_output=True,
                         text=True).stdout
    libraries = re.findall(r"^\s*(?:\S+ => )?(/\S+) \(0x", out, re.MULTILINE)
    assert any("ld-linux" in lib for lib in libraries), out
    return {str(tool): tool} | {lib: Path(lib) for lib in libraries}


@pytest.fixture(scope="module")
def vm(boot, kernel):
    # kmod's depmod and modprobe want the kernel's lists of built-in modules.
    lists = {f"/lib/modules/{kernel.release}/{name}": kernel.modules_dir / name
             for name in ("modules.builtin", "modules.builtin.modinfo", "modules.order")}
    packaging = {f"/src/{path}": REPO / path for path in PACKAGING}
    tools = host_tool_files(KMOD) | host_tool_files(INSTALL)
    vm = boot("modprobe", devices=(DEVICE,), extra_files=tools | lists | packaging)
    vm.check("ln -sf /usr/bin/kmod /sbin/modprobe && ln -sf /usr/bin/kmod /sbin/depmod")
    assert vm.check(f"{MODPROBE} --version").startswith("kmod version")
    vm.check("test -d /lib && test ! -L /lib")
    out = vm.check("sh /src/packaging/install-files.sh install")
    assert "installed /lib/modprobe.d/balloon-ext.conf" in out, out
    assert vm.run("ls /etc/modprobe.d /usr/lib/modprobe.d 2>/dev/null")[1].split() == []
    return vm


def loaded(vm) -> set[str]:
    return {line.split()[0] for line in vm.check("cat /proc/modules").splitlines()}


def udev_modprobe(vm) -> str:
    """What udev's kmod builtin does for a new device: load by modalias, blacklist applied."""
    return vm.check(f"{MODPROBE} -b $(cat /sys/bus/virtio/devices/{device(vm)}/modalias)")


def test_boot_binds_ours_and_falls_back_without_it(vm):
    dev = device(vm)
    assert driver(vm) == "none"
    assert not {"virtio_balloon", "virtio_balloon_ext"} & loaded(vm)

    # balloon-ext installed for this kernel, as DKMS leaves it.
    vm.check('u=/lib/modules/$(uname -r)/updates && mkdir -p $u && '
             f'cp {" ".join("/ext/" + m for m in PROJECT_MODULES)} $u/ && {DEPMOD}')
    aliases = vm.check(f"{MODPROBE} -R $(cat /sys/bus/virtio/devices/{dev}/modalias)").split()
    assert sorted(aliases) == ["virtio_balloon", "virtio_balloon_ext"]  # both claim it
    out = udev_modprobe(vm)
    assert driver(vm) == "virtio_balloon_ext", out
    assert "virtio_balloon" not in loaded(vm), out
    assert f"virtio_balloon_ext {dev}: ballooned memory shows as InflatedFree" in vm.dmesg()

    # A kernel without balloon-ext: the in-tree driver must still bind.
    vm.check(f"echo {dev} > {DRIVERS}/virtio_balloon_ext/unbind")
    vm.check("rmmod virtio_balloon_ext && rmmod balloon_core")
    vm.check(f"rm /lib/modules/$(uname -r)/updates/*.ko && {DEPMOD}")
    out = udev_modprobe(vm)
    assert driver(vm) == "virtio_balloon", out
    assert "virtio_balloon_ext" not in loaded(vm), out


def test_a_device_ours_left_without_a_driver_gets_the_in_tree_one(vm):
    """Ours loads, but a balloon device has no driver (as when its probe fails)."""
    dev = device(vm)
    vm.run("rmmod virtio_balloon")  # the test before may leave it bound
    vm.check('u=/lib/modules/$(uname -r)/updates && mkdir -p $u && '
             f'cp {" ".join("/ext/" + m for m in PROJECT_MODULES)} $u/ && {DEPMOD}')
    try:
        udev_modprobe(vm)
        assert driver(vm) == "virtio_balloon_ext"
        vm.check(f"echo {dev} > {DRIVERS}/virtio_balloon_ext/unbind")
        out = udev_modprobe(vm)
        assert driver(vm) == "virtio_balloon", out
        assert "virtio_balloon_ext" in loaded(vm), out  # ours stays, for other devices
    finally:
        vm.run(f"echo {dev} > {DRIVERS}/virtio_balloon/unbind; rmmod virtio_balloon; "
               "rmmod virtio_balloon_ext; rmmod balloon_core")
        vm.check(f"rm -f /lib/modules/$(uname -r)/updates/*.ko && {DEPMOD}")
