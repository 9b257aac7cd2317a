"""QEMU with the VMware balloon test host (tests/vmw_host/vmw-balloon-host.c) built in.

No QEMU answers the VMware balloon's port 0x5670, so the device is built
into Debian bookworm's own QEMU source, of the same version as the host's
qemu-system-x86: Debian's quilt patches applied, the device file copied to
hw/i386/, the meson hook appended to hw/i386/meson.build. Only the binary is
kept, in the cache under a key of the device source, the hook and the QEMU
version; the firmware comes from the host's packages (-L). The first build
takes minutes (about 1,400 ninja steps on 2 cores); later runs find it.
"""
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import timing
from .apt import private_apt
from .cache import cache_dir
from .commands import run
from .qemu import BINARY, Qemu

DEVICE_DIR = Path(__file__).resolve().parents[1] / "vmw_host"
DEVICE = DEVICE_DIR / "vmw-balloon-host.c"
MESON_HOOK = DEVICE_DIR / "meson.build.append"
CONFIGURE = ("--target-list=x86_64-softmmu", "--without-default-features", "--disable-docs")
FIRMWARE = ("/usr/share/qemu", "/usr/share/seabios")
DEVICE_NAME = "vmw-balloon-host"


def host_qemu_source_version() -> str:
    """The source version of the host's qemu-system-x86 (without a binNMU's +bN)."""
    return subprocess.run(["dpkg-query", "-W", "-f=${source:Version}", "qemu-system-x86"],
                          check=True, text=True, stdout=subprocess.PIPE).stdout.strip()


def build_key(version: str) -> str:
    digest = hashlib.sha256()
    for part in (DEVICE.read_bytes(), MESON_HOOK.read_bytes(), version.encode(),
                 " ".join(CONFIGURE).encode()):
        digest.update(hashlib.sha256(part).digest())
    return f"{version.replace(':', '_')}-{digest.hexdigest()[:12]}"


def _download_source(version: str) -> Path:
    """The qemu=version source package's files, downloaded once; returns the .dsc."""
    src = cache_dir("qemu-vmw", "source", version.replace(":", "_"))
    upstream = version.split(":", 1)[-1]
    dsc = src / f"qemu_{upstream}.dsc"
    if not dsc.exists():
        apt = private_apt("bookworm", sources=True)
        apt.update()
        apt.source("qemu", version, src)
    return dsc


def _build(version: str, out: Path):
    """Build qemu-system-x86_64 with the device into out/."""
    work = out / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    with timing.stage("qemu-vmw download source"):
        dsc = _download_source(version)
    with timing.stage("qemu-vmw unpack and patch"):
        tree = work / "qemu"
        # dpkg-source checks the files' sums and applies Debian's quilt series
        # (7.2 -> 7.2.22 and more); apt checked the .dsc against the signed Release.
        run(["dpkg-source", "-x", str(dsc), str(tree)], log=work / "unpack.log")
        shutil.copy(DEVICE, tree / "hw" / "i386" / DEVICE.name)
        with open(tree / "hw" / "i386" / "meson.build", "a") as meson:
            meson.write(MESON_HOOK.read_text())
    build = tree / "build"
    build.mkdir()
    with timing.stage("qemu-vmw configure"):
        run(["../configure", *CONFIGURE], cwd=build, log=out / "configure.log")
    with timing.stage("qemu-vmw ninja"):
        # The emulator alone, not the tests and tools.
        run(["ninja", "-j", str(os.cpu_count()), BINARY], cwd=build, log=out / "ninja.log")
    (out / "bin").mkdir(exist_ok=True)
    # Renamed into place: a binary that exists is a whole one.
    shutil.copy(build / BINARY, out / "bin" / f"{BINARY}.tmp")
    os.replace(out / "bin" / f"{BINARY}.tmp", out / "bin" / BINARY)
    shutil.rmtree(work)


def vmw_host_qemu() -> Qemu:
    """The host's QEMU version, rebuilt with -device vmw-balloon-host; built on first use."""
    version = host_qemu_source_version()
    out = cache_dir("qemu-vmw", build_key(version))
    binary = out / "bin" / BINARY
    # Two pytest lanes must not build in the same folder at once.
    with open(cache_dir("qemu-vmw") / "build.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not binary.exists():
            start = time.monotonic()
            print(f"vmw_host: building QEMU {version} with {DEVICE_NAME} into {out}",
                  file=sys.stderr, flush=True)
            with timing.stage("qemu-vmw build (cold)"):
                _build(version, out)
            print(f"vmw_host: QEMU built in {time.monotonic() - start:.0f} s", file=sys.stderr,
                  flush=True)
    args = []
    for folder in FIRMWARE:
        args += ["-L", folder]
    return Qemu("vmw-host", binary=binary, extra_args=tuple(args))
