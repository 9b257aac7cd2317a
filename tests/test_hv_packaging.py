"""The modprobe rule for hv_balloon (packaging/modprobe.d/balloon-ext.conf),
its command run as kmod runs it, against a stand-in modprobe and a stand-in
/sys/bus/vmbus/devices.

A live run of the rule needs the real hv_vmbus, which the in-tree
hv_balloon depends on and which loads only on Hyper-V; the simulated host
cannot stand in for a module dependency. So the command's logic is
checked here, on the host, with its paths pointed at stand-ins.
"""
import subprocess

import pytest

from test_vmw_packaging import install_command

DM_CLASS = "{525074dc-8985-46e2-8057-a307dc18a502}"
NET_CLASS = "{f8615163-df3e-46c5-913f-f2d2f965ed0e}"


@pytest.mark.parametrize("loads,bound,fallback", [
    (True, True, False),    # ours loaded and bound the device: done
    (False, False, True),   # ours missing or refused: the in-tree driver
    (True, False, True),    # ours loaded, its probe failed: the in-tree driver
], ids=["bound", "not-loaded", "probe-failed"])
def test_hv_rule_logic(loads, bound, fallback, tmp_path):
    log = tmp_path / "calls"
    fake = tmp_path / "modprobe"
    fake.write_text(f"""#!/bin/sh
echo "$*" >> {log}
case "$*" in
*hv_balloon_ext*) exit {0 if loads else 1} ;;
esac
exit 0
""")
    fake.chmod(0o755)
    devices = tmp_path / "devices"
    for name, cls, has_driver in (("dm", DM_CLASS, bound), ("net", NET_CLASS, False)):
        (devices / name).mkdir(parents=True)
        (devices / name / "class_id").write_text(cls + "\n")
        if has_driver:
            (devices / name / "driver").mkdir()
    command = install_command("hv_balloon").replace("$CMDLINE_OPTS", "hot_add=0")
    command = command.replace("/sbin/modprobe", str(fake))
    command = command.replace("/sys/bus/vmbus/devices", str(devices))
    out = subprocess.run(["dash", "-c", command], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout == "" and out.stderr == "", out
    calls = log.read_text().splitlines()
    assert calls[0] == "-q hv_balloon_ext hot_add=0", calls
    expected = ["--ignore-install hv_balloon hot_add=0"] if fallback else []
    assert calls[1:] == expected, calls


def test_hv_rule_parses_and_falls_back_with_the_options():
    command = install_command("hv_balloon")
    subprocess.run(["dash", "-n", "-c", command], check=True)
    assert "/sbin/modprobe --ignore-install hv_balloon $CMDLINE_OPTS" in command
