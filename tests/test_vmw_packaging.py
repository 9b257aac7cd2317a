"""VMware packaging: the modprobe rule for vmw_balloon, and tools/balloon-ext's
VMware takeover and giveback, in a guest the kernel takes for VMware.

Stock QEMU answers the VMware backdoor's GETVERSION on port 0x5658 (vmport),
so a kernel on a CPU without the hypervisor bit, whose SMBIOS serial says
VMware, prints "Hypervisor detected: VMware". Nothing answers on the balloon
port 0x5670: both drivers load, and every balloon command fails with status
0xffffffff. That is enough for which module loads, and for moving between
them with an empty balloon. A second guest has the same SMBIOS strings but
the hypervisor bit, so its kernel does not find VMware: both drivers refuse
with ENODEV. A third runs on QEMU with tests/vmw_host's balloon host
(harness/vmw_host.py builds it), where the in-tree driver really holds
2 MiB pages, for the takeover's refusal and what follows it.

As in test_modprobe_config.py, the guest runs the host's kmod, the rule is
installed by packaging/install-files.sh, and udev's load at boot is
`modprobe -b <modalias>`, here the DMI one.

The tests without a guest run the tool's vmmemctl parser, the rule's shell
logic against a stand-in modprobe, and dkms.conf's x86 condition on the host.
"""
import re
import subprocess
import time
from pathlib import Path

import pytest

from harness.guest import REPO
from test_modprobe_config import INSTALL, KMOD, PACKAGING, host_tool_files

TOOL = REPO / "tools" / "balloon-ext"
RULES = REPO / "packaging" / "modprobe.d" / "balloon-ext.conf"
SHELLS = ("dash", "bash --posix", "busybox sh")
SMBIOS = ("-smbios", "type=1,manufacturer=VMware,, Inc.,serial=VMware-564d0000")
# The kernel takes the guest for VMware: DMI serial, backdoor, no hypervisor bit.
VMWARE = dict(machine="q35,vmport=on", cpu="max,-hypervisor", extra_args=SMBIOS)
# The same DMI strings, but the hypervisor bit: not VMware to the kernel.
NOT_VMWARE = dict(extra_args=SMBIOS)
KERNEL_MODULES = ("virtio_pci", "vmw_balloon")  # vmw_vmci comes with it
PROJECT_MODULES = ("balloon_core.ko", "vmw_balloon_ext.ko")
MODPROBE = "/sbin/modprobe"
DEPMOD = "/sbin/depmod -a"
UPDATES = "/lib/modules/$(uname -r)/updates"
VMMEMCTL = "/sys/kernel/debug/vmmemctl"
TAKEOVER = "BALLOON_EXT_MODULE_DIR=/ext balloon-ext takeover"


# ---- without a guest ----------------------------------------------------------

def vmmemctl_text(caps: int, target: int, current: int, ours: bool = False) -> str:
    """A vmmemctl file in the in-tree format (C's %#x prints 0 as "0"), cut after the commands."""
    hexa = "0" if caps == 0 else f"{caps:#x}"
    lines = ["InflatedTotal: 0 kB", f"InflatedFree: {current * 4} kB"] if ours else []
    lines += [f"{'balloon capabilities':<22}: {'0x3e':>16}",
              f"{'used capabilities':<22}: {hexa:>16}",
              f"{'is resetting':<22}: {'n':>16}",
              f"{'target':<22}: {target:>16}",
              f"{'current':<22}: {current:>16}",
              f"{'start':<22}: {1:>16} (0 failed)",
              f"{'target':<22}: {123:>16} (0 failed)",  # the command count, second
              f"{'alloc':<18}({'2M'}): {current // 512:>16}"]
    return "\n".join(lines) + "\n"


def shell_function(name: str) -> str:
    """The text of one function of tools/balloon-ext, to run it alone."""
    match = re.search(rf"^{name}\(\) {{\n.*?^}}\n", TOOL.read_text(), re.MULTILINE | re.DOTALL)
    assert match, name
    return match.group(0)


RISK_CASES = {
    # 2 MiB granted, pages held: rmmod would never return.
    "2m-held": (vmmemctl_text(0x2e, 65536, 65536), 1),
    # 2 MiB granted, empty, but the host wants pages: it inflates within a second.
    "2m-empty-target": (vmmemctl_text(0x2e, 16384, 0), 1),
    "2m-empty": (vmmemctl_text(0x2e, 0, 0), 0),
    # 2M without BATCHED is never used, nor 4 KiB batches a problem.
    "4k-batched-held": (vmmemctl_text(0x26, 65536, 65536), 0),
    "2m-not-batched": (vmmemctl_text(0x2a, 65536, 65536), 0),
    "no-host": (vmmemctl_text(0, 0, 0), 0),
    "ours-format": (vmmemctl_text(0x2e, 1024, 1024, ours=True), 1),
    "garbage": ("nothing to see\n", 2),
    "bad-caps": (vmmemctl_text(0x2e, 0, 0).replace("0x2e", "0x2g"), 2),
    "empty": ("", 2),
}


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("case", RISK_CASES)
def test_vmmemctl_risk(shell, case, tmp_path):
    """The 2 MiB check takeover makes before `rmmod vmw_balloon`, on sample files."""
    text, expected = RISK_CASES[case]
    sample = tmp_path / "vmmemctl"
    sample.write_text(text)
    script = (shell_function("vmmemctl_risk")
              + f'vmmemctl_risk "{sample}"; rc=$?\n'
              + 'echo "$rc|$vmm_caps|$vmm_current|$vmm_target"\n')
    out = subprocess.run([*shell.split(), "-c", script], capture_output=True, text=True,
                         check=True)
    rc, caps, current, target = out.stdout.strip().split("|")
    assert int(rc) == expected, (out.stdout, out.stderr)
    if case == "2m-held":
        assert (caps, current, target) == ("0x2e", "65536", "65536")
    assert out.stderr == ""


@pytest.mark.parametrize("shell", SHELLS)
def test_vmmemctl_risk_missing_file(shell):
    script = shell_function("vmmemctl_risk") + 'vmmemctl_risk /nonexistent/vmmemctl; echo $?\n'
    out = subprocess.run([*shell.split(), "-c", script], capture_output=True, text=True)
    assert out.stdout.strip() == "2", out


def install_command(module: str) -> str:
    lines = [line for line in RULES.read_text().splitlines()
             if line.startswith(f"install {module} ")]
    assert len(lines) == 1, lines
    return lines[0].split(" ", 2)[2]


# What the stand-in modprobe answers for vmw_balloon_ext, as kmod words it.
FAKE_OUTCOMES = {
    "loads": (0, ""),
    "missing": (1, "modprobe: FATAL: Module vmw_balloon_ext not found in directory "
                   "/lib/modules/6.1.0-57-amd64"),
    "enodev": (1, "modprobe: ERROR: could not insert 'vmw_balloon_ext': No such device"),
    "rejected": (1, "modprobe: ERROR: could not insert 'vmw_balloon_ext': "
                    "Key was rejected by service"),
}


@pytest.mark.parametrize("outcome", FAKE_OUTCOMES)
def test_vmw_rule_logic(outcome, tmp_path):
    """The rule's command under dash, as kmod runs it (`sh -c`, $CMDLINE_OPTS put in),
    with a stand-in modprobe that logs its arguments and answers as kmod would."""
    rc, message = FAKE_OUTCOMES[outcome]
    log = tmp_path / "calls"
    fake = tmp_path / "modprobe"
    fake.write_text(f"""#!/bin/sh
echo "$*" >> {log}
case "$*" in
vmw_balloon_ext*) [ -n "{message}" ] && echo "{message}" >&2; exit {rc} ;;
esac
exit 0
""")
    fake.chmod(0o755)
    command = install_command("vmw_balloon").replace("$CMDLINE_OPTS",
                                                      "vmwballoon_shrinker_enable=1")
    command = command.replace("/sbin/modprobe", str(fake))
    out = subprocess.run(["dash", "-c", command], capture_output=True, text=True)
    calls = log.read_text().splitlines()
    assert calls[0] == "vmw_balloon_ext vmwballoon_shrinker_enable=1"
    assert out.stdout == "" and out.stderr == "", out  # ours' answer is never printed
    assert out.returncode == 0, out
    if outcome in ("loads", "enodev"):
        # Loaded, or not VMware (the in-tree driver would refuse alike): no fallback.
        assert calls == calls[:1], calls
    else:
        assert calls[1:] == ["--ignore-install vmw_balloon vmwballoon_shrinker_enable=1"]


def test_rule_file_commands_parse():
    """Every install command is valid sh; each fallback skips the rules and passes the options."""
    for module in ("virtio_balloon", "vmw_balloon"):
        command = install_command(module)
        subprocess.run(["dash", "-n", "-c", command], check=True)
        assert f"/sbin/modprobe --ignore-install {module} $CMDLINE_OPTS" in command


def dkms_modules(tmp_path: Path, config: str | None, arch: str) -> list[str]:
    """BUILT_MODULE_NAME[@] as dkms gets it: dkms.conf sourced by bash, variables set."""
    kdir = tmp_path / "headers"
    kdir.mkdir()
    if config is not None:
        (kdir / ".config").write_text(config)
    script = (f'kernel_source_dir={kdir} arch={arch} kernelver=1.0; '
              f'. {REPO / "dkms.conf"}; echo "${{BUILT_MODULE_NAME[@]}}"; '
              'for i in "${!BUILT_MODULE_NAME[@]}"; do echo "$i ${DEST_MODULE_LOCATION[$i]}"; done')
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    assert out.stderr == "", out.stderr
    lines = out.stdout.splitlines()
    assert all(line.endswith(" /updates/dkms") for line in lines[1:]), lines
    return lines[0].split()


HV = "CONFIG_HYPERV=m\nCONFIG_MEMORY_HOTPLUG=y\n"


@pytest.mark.parametrize("config, arch, vmw, hv", [
    ("CONFIG_64BIT=y\nCONFIG_X86_64=y\nCONFIG_X86=y\n" + HV, "x86_64", True, True),
    ("CONFIG_64BIT=y\nCONFIG_X86_64=y\nCONFIG_X86=y\nCONFIG_HYPERV=y\n", "x86_64", True, False),
    ("CONFIG_X86=y\nCONFIG_MEMORY_HOTPLUG=y\n", "x86_64", True, False),  # no Hyper-V
    ("CONFIG_X86_32=y\nCONFIG_X86=y\n", "i686", True, False),
    ("CONFIG_ARM64=y\n" + HV, "aarch64", False, False),
    ("CONFIG_ARM64=y\n", "x86_64", False, False),  # the kernel's configuration decides
    (None, "x86_64", True, True),  # no .config: the architecture decides
    (None, "i686", True, True),
    (None, "aarch64", False, False),
])
def test_dkms_conf_lists_vmw_and_hv_only_where_kbuild_builds_them(config, arch, vmw, hv,
                                                                  tmp_path):
    """vmw_balloon_ext needs CONFIG_X86; hv_balloon_ext also CONFIG_HYPERV and
    CONFIG_MEMORY_HOTPLUG, as the Kbuild file says."""
    expected = (["balloon_core", "virtio_balloon_ext"] + (["vmw_balloon_ext"] if vmw else [])
                + (["hv_balloon_ext"] if hv else []))
    assert dkms_modules(tmp_path, config, arch) == expected


# ---- in a guest --------------------------------------------------------------

def guest_files(kernel) -> dict:
    lists = {f"/lib/modules/{kernel.release}/{name}": kernel.modules_dir / name
             for name in ("modules.builtin", "modules.builtin.modinfo", "modules.order")}
    packaging = {f"/src/{path}": REPO / path for path in PACKAGING}
    return host_tool_files(KMOD) | host_tool_files(INSTALL) | lists | packaging


def set_up_kmod(vm):
    """kmod as modprobe, depmod and modinfo; the rule and the tool installed as DKMS does."""
    vm.check("for t in modprobe depmod modinfo; do ln -sf /usr/bin/kmod /sbin/$t; done")
    assert vm.check(f"{MODPROBE} --version").startswith("kmod version")
    out = vm.check("sh /src/packaging/install-files.sh install")
    assert "installed /lib/modprobe.d/balloon-ext.conf" in out, out
    assert "installed /usr/sbin/balloon-ext" in out, out


@pytest.fixture(scope="module")
def vmw(boot, kernel):
    vm = boot("vmw-packaging", kernel_modules=KERNEL_MODULES,
              extra_files=guest_files(kernel), **VMWARE)
    assert "Hypervisor detected: VMware" in vm.dmesg()
    set_up_kmod(vm)
    return vm


@pytest.fixture(scope="module")
def not_vmw(boot, kernel):
    vm = boot("vmw-packaging-not-vmware", kernel_modules=KERNEL_MODULES,
              extra_files=guest_files(kernel), **NOT_VMWARE)
    assert "Hypervisor detected: VMware" not in vm.dmesg()
    set_up_kmod(vm)
    return vm


def loaded(vm) -> set[str]:
    return {line.split()[0] for line in vm.check("cat /proc/modules").splitlines()}


def unload(vm):
    vm.run("rmmod vmw_balloon_ext; rmmod vmw_balloon; rmmod balloon_core")
    assert not {"vmw_balloon", "vmw_balloon_ext", "balloon_core"} & loaded(vm)


def install_ours(vm):
    """balloon-ext installed for this kernel, as DKMS leaves it."""
    vm.check(f"mkdir -p {UPDATES} && "
             f"cp {' '.join('/ext/' + m for m in PROJECT_MODULES)} {UPDATES}/ && {DEPMOD}")


def remove_ours(vm):
    vm.check(f"rm -f {UPDATES}/*.ko && {DEPMOD}")


def udev_modprobe(vm) -> tuple[int, str]:
    """What udev does at boot for the DMI device: load by modalias, blacklist applied."""
    return vm.run(f'{MODPROBE} -b "$(cat /sys/class/dmi/id/modalias)"')


def vmmemctl_head(vm) -> str:
    return vm.check(f"head -n 1 {VMMEMCTL}").strip()


@pytest.fixture
def vm(vmw):
    """The VMware guest with no balloon module loaded, ours not installed."""
    unload(vmw)
    remove_ours(vmw)
    yield vmw
    if vmw.alive:
        vmw.run(f"umount {VMMEMCTL}")
        unload(vmw)
        remove_ours(vmw)


def test_dmi_alias_asks_for_both_drivers(vm):
    modalias = vm.check("cat /sys/class/dmi/id/modalias").strip()
    assert ":svnVMware" in modalias, modalias
    install_ours(vm)
    aliases = vm.check(f'{MODPROBE} -R "$(cat /sys/class/dmi/id/modalias)"').split()
    assert sorted(aliases) == ["vmw_balloon", "vmw_balloon_ext"]


def test_boot_loads_ours_and_not_the_in_tree_driver(vm):
    install_ours(vm)
    rc, out = udev_modprobe(vm)
    assert rc == 0 and out.strip() == "", out
    assert "vmw_balloon_ext" in loaded(vm) and "vmw_balloon" not in loaded(vm), out
    assert vmmemctl_head(vm).startswith("InflatedTotal:")  # ours' file, not in-tree's
    assert "another balloon driver" not in vm.dmesg()


@pytest.mark.parametrize("first, second", [("vmw_balloon_ext", "vmw_balloon"),
                                           ("vmw_balloon", "vmw_balloon_ext")])
def test_either_order_loads_ours_only(vm, first, second):
    """udev may ask for the two modules in either order."""
    install_ours(vm)
    for module in (first, second):
        out = vm.check(f"{MODPROBE} -b {module}")
        assert out.strip() == "", (module, out)
    assert "vmw_balloon_ext" in loaded(vm) and "vmw_balloon" not in loaded(vm)


def test_boot_falls_back_to_the_in_tree_driver_without_ours(vm):
    rc, out = udev_modprobe(vm)
    assert rc == 0, out
    assert "vmw_balloon" in loaded(vm) and "vmw_balloon_ext" not in loaded(vm), out
    assert vmmemctl_head(vm).startswith("balloon capabilities")


def status(vm) -> list[str]:
    return vm.check("balloon-ext status").splitlines()


def test_takeover_and_giveback_move_between_the_modules(vm):
    vm.check(f"{MODPROBE} --ignore-install vmw_balloon")
    assert status(vm)[0] == "vmware: vmw_balloon"

    out = vm.check(TAKEOVER)
    assert "vmware: moved from vmw_balloon to vmw_balloon_ext" in out, out
    assert "vmw_balloon_ext" in loaded(vm) and "vmw_balloon" not in loaded(vm), out
    assert status(vm) == ["vmware: vmw_balloon_ext", "vmw_balloon_ext inflated_free_kb: 0",
                          "inflated_total_kb: 0", "inflated_free_kb: 0"]
    again = vm.check(TAKEOVER)
    assert "vmware: already on vmw_balloon_ext" in again and "moved" not in again, again

    out = vm.check("balloon-ext giveback")
    assert "vmware: moved from vmw_balloon_ext to vmw_balloon" in out, out
    assert "vmw_balloon" in loaded(vm) and "vmw_balloon_ext" not in loaded(vm), out
    assert status(vm)[0] == "vmware: vmw_balloon"
    again = vm.check("balloon-ext giveback")
    assert "vmware: already on vmw_balloon" in again, again

    # With ours installed for the kernel, modprobe finds it: no folder needed.
    install_ours(vm)
    out = vm.check("balloon-ext takeover")
    assert "vmware: moved from vmw_balloon to vmw_balloon_ext" in out, out
    vm.check("balloon-ext giveback")
    assert "vmw_balloon" in loaded(vm) and "vmw_balloon_ext" not in loaded(vm)


def test_takeover_without_module_fails_clearly_and_touches_nothing(vm):
    vm.check(f"{MODPROBE} --ignore-install vmw_balloon")
    rc, out = vm.run("balloon-ext takeover")
    assert rc == 1, out
    assert "cannot load vmw_balloon_ext" in out and "BALLOON_EXT_MODULE_DIR" in out, out
    rc, out = vm.run("BALLOON_EXT_MODULE_DIR=/nonexistent balloon-ext takeover")
    assert rc == 1 and "cannot load /nonexistent/balloon_core.ko" in out, out
    assert "vmw_balloon" in loaded(vm) and "vmw_balloon_ext" not in loaded(vm)


def test_takeover_refuses_while_the_in_tree_balloon_may_hold_2m_pages(vm):
    """The in-tree driver cannot be made to hold pages without a balloon host, so
    a sample file in its format is bind-mounted over its vmmemctl: the tool reads
    the real path and must refuse before unloading anything."""
    vm.check(f"{MODPROBE} --ignore-install vmw_balloon")
    for name, text in (("held", vmmemctl_text(0x2e, 65536, 65536)),
                       ("unreadable", "nothing to see\n")):
        vm.write_file(f"/tmp/vmmemctl-{name}", text)
        vm.check(f"mount -o bind /tmp/vmmemctl-{name} {VMMEMCTL}")
        try:
            rc, out = vm.run(TAKEOVER)
        finally:
            vm.check(f"umount {VMMEMCTL}")
        assert rc == 1, out
        if name == "held":
            assert "2 MiB pages (used capabilities 0x2e) and it holds 65536 frames" in out, out
            assert "Wait until the host's target is 0" in out, out
        else:
            assert "cannot tell whether it holds 2 MiB pages" in out, out
        assert "vmw_balloon" in loaded(vm) and "vmw_balloon_ext" not in loaded(vm), out
    # The real file (no host: nothing granted, nothing held) lets it through.
    assert vmmemctl_head(vm).startswith("balloon capabilities")
    assert "vmware: moved from vmw_balloon to vmw_balloon_ext" in vm.check(TAKEOVER)


def test_not_on_vmware_the_rule_stays_quiet(not_vmw):
    """Both drivers refuse with ENODEV: the rule neither falls back nor prints."""
    vm = not_vmw
    install_ours(vm)
    try:
        rc, out = vm.run(f"{MODPROBE} vmw_balloon")
        assert (rc, out.strip()) == (0, ""), out
        # udev's load: ours' own refusal is the one line, as vmw_balloon's is on stock.
        rc, out = udev_modprobe(vm)
        errors = [line for line in out.splitlines() if line.strip()]
        assert errors == ["modprobe: ERROR: could not insert 'vmw_balloon_ext': "
                          "No such device"], out
        assert not {"vmw_balloon", "vmw_balloon_ext"} & loaded(vm)
        # The tool: DMI says VMware, so it is asked, and says why it cannot.
        assert status(vm)[0] == "vmware: none"
        rc, out = vm.run("balloon-ext takeover")
        assert rc == 1 and "No such device" in out, out
    finally:
        remove_ours(vm)


# ---- against the host model: a balloon that holds 2 MiB pages -----------------

HOST_ID = "vmwb"
HOST_FRAMES = 65536  # 256 MiB, as 128 2 MiB pages with the host's default caps 0x2e


@pytest.fixture(scope="module")
def vmw_host_guest(boot):
    """A VMware guest whose balloon has a host: tests/vmw_host's device in QEMU."""
    from harness.vmw_host import vmw_host_qemu
    vm = boot("vmw-packaging-host", devices=(f"vmw-balloon-host,id={HOST_ID},target=0",),
              kernel_modules=KERNEL_MODULES, qemu=vmw_host_qemu(), **VMWARE)
    vm.write_file("/bin/balloon-ext", TOOL.read_bytes())
    vm.check("chmod 755 /bin/balloon-ext")
    return vm


def host_target(vm, frames: int):
    vm.qmp("qom-set", path=f"/machine/peripheral/{HOST_ID}", property="target", value=frames)


def wait_current(vm, frames: int, timeout: float = 120):
    """Until vmmemctl's "current" (either driver's) reads `frames`."""
    deadline = time.monotonic() + timeout
    while True:
        rc, out = vm.run(f"grep '^current ' {VMMEMCTL}")
        if rc == 0 and out.split(":")[1].strip() == str(frames):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"vmmemctl current is not {frames}:\n{vm.run(f'cat {VMMEMCTL}')[1]}")
        time.sleep(0.5)


def test_takeover_refuses_2m_pages_then_moves_an_emptied_balloon(vmw_host_guest):
    """The real in-tree driver holding 2 MiB pages: takeover must not rmmod it (that
    rmmod never returns); once the host's target is 0 and it is empty, takeover goes
    through, and ours, holding 2 MiB pages, unloads in giveback."""
    vm = vmw_host_guest
    vm.check("modprobe vmw_balloon")
    host_target(vm, HOST_FRAMES)
    wait_current(vm, HOST_FRAMES)
    assert "0x2e" in vm.check(f"grep '^used capabilities' {VMMEMCTL}")

    rc, out = vm.run(TAKEOVER)
    assert rc == 1, out
    assert f"(used capabilities 0x2e) and it holds {HOST_FRAMES} frames" in out, out
    assert vm.run("test -e /sys/module/vmw_balloon/initstate")[0] == 0, out
    assert vm.run("test -e /sys/module/vmw_balloon_ext")[0] != 0, out

    host_target(vm, 0)
    wait_current(vm, 0)
    out = vm.check(TAKEOVER, timeout=60)
    assert "vmware: moved from vmw_balloon to vmw_balloon_ext" in out, out
    host_target(vm, HOST_FRAMES)
    wait_current(vm, HOST_FRAMES)
    free_kb = HOST_FRAMES * 4
    assert f"vmw_balloon_ext inflated_free_kb: {free_kb}" in vm.check("balloon-ext status")
    assert vm.check(f"grep -E '^pages +\\(2M\\)' {VMMEMCTL}").split(":")[1].strip() == "128"

    # Ours gives its 2 MiB pages back on unload, where the in-tree exit would hang.
    out = vm.check("balloon-ext giveback", timeout=60)
    assert "vmware: moved from vmw_balloon_ext to vmw_balloon" in out, out
    wait_current(vm, HOST_FRAMES)  # the in-tree driver inflates again
    host_target(vm, 0)
    wait_current(vm, 0)
