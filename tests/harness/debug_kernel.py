"""6.1-debug: bookworm's 6.1 kernel rebuilt from Debian's own source with lockdep, KASAN and more.

The source is linux-source-6.1 of exactly the package version the stock 6.1
entry tests, and the base config is that image's boot/config-<release>.
localmodconfig keeps only the modules the guests use, so a build takes
about half an hour on two cores rather than many hours. The result lives in
$BALLOON_EXT_CACHE/debug-kernel/<version>-<recipe hash>/, stamped last, so
a warm run only reads it. The built source tree is the build directory for
out-of-tree modules, as /lib/modules/<release>/build would be.
"""
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from . import timing
from .apt import private_apt
from .cache import cache_dir
from .commands import CommandError, tail
from .kernels import KERNELS, Kernel, prepare_kernel, resolve

SOURCE_PACKAGE = "linux-source-6.1"
# What the guests load (guest.DEFAULT_KERNEL_MODULES and the tests' own
# modprobes) and what the other hypervisors' drivers bind to, with the
# modules those need: localmodconfig turns every other module off.
LSMOD_MODULES = ("virtio", "virtio_ring", "virtio_pci", "virtio_pci_modern_dev",
                 "virtio_pci_legacy_dev", "virtio_balloon", "vmw_balloon", "vmw_vmci",
                 "hv_vmbus", "hv_balloon", "hv_utils", "virtio_blk", "virtio_net",
                 "virtio_console")
# scripts/config arguments, applied after localmodconfig, in order.
CONFIG_EDITS = (
    # Debian's config names its own certificate files, which the source lacks.
    ("--set-str", "SYSTEM_TRUSTED_KEYS", ""),
    ("--set-str", "SYSTEM_REVOCATION_KEYS", ""),
    # No debug info: it would triple the build's time and disk.
    ("--disable", "DEBUG_INFO"),
    ("--disable", "DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT"),
    ("--disable", "DEBUG_INFO_DWARF4"),
    ("--disable", "DEBUG_INFO_DWARF5"),
    ("--disable", "DEBUG_INFO_BTF"),
    ("--disable", "DEBUG_INFO_BTF_MODULES"),
    ("--enable", "DEBUG_INFO_NONE"),
    ("--enable", "PROVE_LOCKING"),
    ("--enable", "DEBUG_ATOMIC_SLEEP"),
    ("--enable", "KASAN"),
    ("--enable", "KASAN_GENERIC"),
    ("--disable", "KASAN_OUTLINE"),
    ("--enable", "KASAN_INLINE"),
    ("--enable", "DEBUG_VM"),
    ("--enable", "DEBUG_LIST"),
    ("--enable", "DEBUG_OBJECTS"),
    ("--enable", "DEBUG_KMEMLEAK"),
    ("--set-val", "DEBUG_KMEMLEAK_MEM_POOL_SIZE", "16000"),
    # On from boot, so no guest needs kmemleak=on.
    ("--disable", "DEBUG_KMEMLEAK_DEFAULT_OFF"),
    ("--enable", "FAULT_INJECTION"),
    ("--enable", "FAILSLAB"),
    ("--enable", "FAIL_PAGE_ALLOC"),
    ("--enable", "FAULT_INJECTION_DEBUG_FS"),
    ("--enable", "SOFTLOCKUP_DETECTOR"),
    ("--enable", "DETECT_HUNG_TASK"),
    ("--set-str", "LOCALVERSION", "-dbg"),
)
# Options the tests rely on that must stay as Debian set them.
KEEP_AS_DEBIAN = ("KPROBES", "DEBUG_FS", "BALLOON_COMPACTION", "PAGE_REPORTING",
                  "MEMORY_HOTPLUG")
# Bumped when the steps in _build() change what they produce.
RECIPE = "1: localmodconfig, CONFIG_EDITS, olddefconfig, bzImage modules, modules_install strip"


def recipe_hash() -> str:
    """Names the build: the same inputs give the same cache folder."""
    text = json.dumps([LSMOD_MODULES, CONFIG_EDITS, KEEP_AS_DEBIAN, RECIPE])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def build_dir(version: str) -> Path:
    return cache_dir("debug-kernel", f"{version}-{recipe_hash()}")


def cached_build_seconds(version: str) -> float | None:
    """How long the finished build for `version` took, or None if it is not built."""
    top = build_dir(version)
    if not (top / "stamp").exists():
        return None
    return float((top / "build-seconds").read_text())


def describe_build(name: str) -> str:
    """One line for the run's header: is the build of `name` cached, and what did it cost."""
    version = resolve(KERNELS[name].debug_of).version
    seconds = cached_build_seconds(version)
    if seconds is None:
        return (f"{name}: no cached build of {SOURCE_PACKAGE} {version} in "
                f"{build_dir(version)}: building it (about 30 min on 2 cores)")
    return (f"{name}: cached build of {SOURCE_PACKAGE} {version} in {build_dir(version)}; "
            f"the build took {seconds:.0f} s")


def prepare_debug_kernel(name: str) -> Kernel:
    """The debug build of KERNELS[name].debug_of, built once into the cache."""
    spec = KERNELS[name]
    base = prepare_kernel(spec.debug_of)
    top = build_dir(base.version)
    with open(top / "lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second run waits, then finds the stamp
        seconds = cached_build_seconds(base.version)
        if seconds is None:
            with timing.stage(f"build debug kernel {name}"):
                _build(base, top)
        else:
            # A warm run still lists the stage, with what the build once cost.
            with timing.stage(f"build debug kernel {name} (cached; the build took "
                              f"{seconds:.0f} s)"):
                pass
    release = (top / "release").read_text().strip()
    return Kernel(name=name, spec=spec, release=release, version=base.version,
                  root=top / "root", vmlinuz=top / "linux" / "arch" / "x86" / "boot" / "bzImage",
                  kdir=top / "linux", modules_dir=top / "root" / "lib" / "modules" / release,
                  env=dict(spec.env), toolchain=base.toolchain)


def _build(base: Kernel, top: Path):
    """Download, configure, build and install into top; the stamp is written last."""
    start = time.monotonic()
    tree = top / "linux"
    for stale in (tree, top / "root"):
        shutil.rmtree(stale, ignore_errors=True)
    _extract_source(base.version, top, tree)
    _configure(base, tree, top)
    jobs = f"-j{os.cpu_count()}"
    # LOCALVERSION= on the command line: without it, kbuild may add a "+".
    _make(tree, top / "build.log", jobs, "LOCALVERSION=", "bzImage", "modules")
    release = _make(tree, None, "-s", "LOCALVERSION=", "kernelrelease").split()[-1]
    _make(tree, top / "modules_install.log", "LOCALVERSION=", "INSTALL_MOD_STRIP=1",
          f"INSTALL_MOD_PATH={top / 'root'}", "modules_install")
    _run(["depmod", "-b", str(top / "root"), "-F", str(tree / "System.map"), release])
    (top / "release").write_text(release + "\n")
    (top / "build-seconds").write_text(f"{time.monotonic() - start:.1f}\n")
    (top / "stamp").write_text(f"{base.version} {recipe_hash()}\n")


def _extract_source(version: str, top: Path, tree: Path):
    apt = private_apt("bookworm")
    if not apt.has(SOURCE_PACKAGE, version):
        raise RuntimeError(f"the bookworm archive has no {SOURCE_PACKAGE}={version}, the "
                           f"version of the 6.1 kernel under test; a debug build from "
                           f"another version would test another kernel")
    source = apt.show(SOURCE_PACKAGE, version).get("Source", "")
    if source.split()[0] != "linux":
        raise RuntimeError(f"{SOURCE_PACKAGE}={version} comes from source {source!r}, "
                           f"not linux")
    deb = apt.download(SOURCE_PACKAGE, version)
    unpacked = top / "deb"
    shutil.rmtree(unpacked, ignore_errors=True)
    _run(["dpkg-deb", "-x", str(deb), str(unpacked)])
    tarball = unpacked / "usr" / "src" / f"{SOURCE_PACKAGE}.tar.xz"
    _run(["tar", "-xJf", str(tarball), "-C", str(top)])
    shutil.rmtree(unpacked)
    (top / SOURCE_PACKAGE).rename(tree)


def _configure(base: Kernel, tree: Path, top: Path):
    """Debian's config, cut down to LSMOD_MODULES, with CONFIG_EDITS; verified after."""
    debian_config = base.root / "boot" / f"config-{base.release}"
    shutil.copyfile(debian_config, tree / ".config")
    lsmod = top / "lsmod"
    lsmod.write_text("Module Size Used by\n"
                     + "".join(f"{module} 0 0\n" for module in LSMOD_MODULES))
    _make(tree, top / "localmodconfig.log", f"LSMOD={lsmod}", "localmodconfig")
    edits = [str(part) for edit in CONFIG_EDITS for part in edit]
    _run([str(tree / "scripts" / "config"), "--file", str(tree / ".config"), *edits])
    _make(tree, top / "olddefconfig.log", "olddefconfig")
    verify_config(_read_config(tree / ".config"), _read_config(debian_config))
    shutil.copyfile(tree / ".config", top / "config")


def verify_config(config: dict[str, str], debian: dict[str, str]):
    """Fail if olddefconfig dropped or changed an edit, or a KEEP_AS_DEBIAN option moved."""
    wrong = []
    for action, option, *value in CONFIG_EDITS:
        want = {"--enable": "y", "--disable": None, "--set-val": value and value[0],
                "--set-str": value and f'"{value[0]}"'}[action]
        # A blanked string whose feature is off (SYSTEM_REVOCATION_LIST) is absent: fine.
        if config.get(option) != want and not (want == '""' and option not in config):
            wrong.append(f"{option}: want {want or 'unset'}, got {config.get(option) or 'unset'}")
    for option in KEEP_AS_DEBIAN:
        if config.get(option) != debian.get(option):
            wrong.append(f"{option}: Debian has {debian.get(option)}, "
                         f"got {config.get(option) or 'unset'}")
    if wrong:
        raise RuntimeError("the debug kernel's config is not what was asked for "
                           "(olddefconfig changed it):\n  " + "\n  ".join(wrong))


def _read_config(path: Path) -> dict[str, str]:
    """{option without CONFIG_: value} of the set options in a .config."""
    values = {}
    for line in path.read_text().splitlines():
        if line.startswith("CONFIG_") and "=" in line:
            option, _, value = line.removeprefix("CONFIG_").partition("=")
            values[option] = value
    return values


def _make(tree: Path, log: Path | None, *args: str) -> str:
    return _run(["make", "-C", str(tree), *args], log=log)


def _run(cmd: list[str], log: Path | None = None) -> str:
    """commands.run, but with no stdin.

    localmodconfig asks about the options Debian's installed config leaves
    out (BUILD_SALT, MODULE_SIG_ALL, MODULE_SIG_KEY); at end of input kconfig
    takes each default, as olddefconfig would, rather than wait for a terminal.
    """
    out = open(log, "w") if log else subprocess.PIPE
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out,
                              stderr=subprocess.STDOUT, text=True)
    finally:
        if log:
            out.close()
    output = log.read_text(errors="replace") if log else proc.stdout
    if proc.returncode != 0:
        raise CommandError(f"{' '.join(cmd)} failed with {proc.returncode}"
                           f"{f' (full log: {log})' if log else ''}:\n{tail(output)}")
    return output
