"""The compile probes' results are keyed by the kernel build, not just its release string.

Host only, no guest: `make -n` against a stand-in kernel tree shows which
folder the generated compat header would go to.
"""
import re
import subprocess

from harness.guest import REPO


def compat_dir(kdir, *make_vars) -> str:
    # make -n still runs the $(MAKE) line, which fails in the stand-in tree: only stdout counts.
    out = subprocess.run(["make", "-n", f"KDIR={kdir}", *make_vars, "modules"], cwd=REPO,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    return re.search(r"gen-compat\.sh \S+ (\S+)/compat-generated\.h", out).group(1)


def test_same_release_other_config_or_compiler_is_probed_again(tmp_path):
    (tmp_path / "include" / "generated").mkdir(parents=True)
    (tmp_path / "Makefile").write_text("all:\n")
    (tmp_path / "include" / "generated" / "utsrelease.h").write_text(
        '#define UTS_RELEASE "9.9.9-test"\n')
    (tmp_path / ".config").write_text("CONFIG_A=y\n")
    first = compat_dir(tmp_path)
    assert first.rsplit("/", 1)[1].startswith("9.9.9-test-")
    assert compat_dir(tmp_path) == first

    (tmp_path / ".config").write_text("CONFIG_A=n\n")
    reconfigured = compat_dir(tmp_path)
    (tmp_path / "include" / "generated" / "utsversion.h").write_text(
        '#define UTS_VERSION "#2 SMP rebuilt"\n')
    rebuilt = compat_dir(tmp_path)
    other_cc = compat_dir(tmp_path, "CC=gcc-12")
    assert len({first, reconfigured, rebuilt, other_cc}) == 4
