"""Which QEMU runs a guest: the host's (bookworm, 7.2), or a newer suite's from its chroot.

QEMU 7.2 drops virtio-balloon stats tags 10-15 without a word, so tests of
those tags run trixie's QEMU (9.2 or later) inside the trixie chroot. The
chroot sees the guest's kernel, initramfs and QMP socket through bind mounts
at their host paths, so the command line is the same either way.
"""
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .chroot import chroot_command, ensure_chroot

BINARY = "qemu-system-x86_64"


@dataclass(frozen=True)
class Qemu:
    name: str                   # for logs: "host" or the suite
    chroot: Path | None = None  # run inside this chroot, or on the host if None
    binary: Path | None = None  # a QEMU of our own build instead of BINARY on the PATH
    extra_args: tuple[str, ...] = ()  # before the caller's args, e.g. -L for its firmware

    def command(self, args: list[str], binds=()) -> list[str]:
        """The command running QEMU with args; binds ((host folder, writable) pairs) are
        the folders its arguments name, which a chrooted QEMU needs mounted."""
        cmd = [str(self.binary or BINARY), *self.extra_args, *args]
        if self.chroot is None:
            return cmd
        return chroot_command(self.chroot, cmd, binds)

    def version(self) -> str:
        """QEMU's own version, e.g. "9.2.1"."""
        out = subprocess.run(self.command(["--version"]), check=True, text=True,
                             stdout=subprocess.PIPE).stdout
        match = re.search(r"version (\d+\.\d+\.\d+)", out)
        if not match:
            raise RuntimeError(f"{self.name} QEMU: cannot read its version from {out!r}")
        return match.group(1)


HOST = Qemu("host")


def suite_qemu(suite: str) -> Qemu:
    """QEMU from `suite`, installed into that suite's build chroot on first use."""
    return Qemu(suite, ensure_chroot(suite, ("qemu-system-x86",)))
