"""The guest's initramfs: busybox, our init, test files and a few in-tree kernel modules."""
import gzip
import hashlib
import lzma
import os
import subprocess
from pathlib import Path

from .build import build_static
from .cache import cache_dir
from .kernels import Kernel

BUSYBOX = Path("/bin/busybox")  # from busybox-static
GUEST_INIT = Path(__file__).resolve().parent.parent / "guest" / "init"
# Reads the kernel log for the gate (harness/log_gate.py): in every guest.
KMSG_SINCE = GUEST_INIT.with_name("kmsg-since.c")
SYSFS_POLL = GUEST_INIT.with_name("sysfs-poll.c")
# Where busybox --install puts its applet links; the rest are mount points.
DIRECTORIES = ("bin", "sbin", "usr/bin", "usr/sbin", "dev", "proc", "sys", "tmp", "root",
               "etc", "ext")


def make_initramfs(kernel: Kernel, guest_files: dict[str, Path],
                   kernel_modules: list[str]) -> Path:
    """A gzip'd newc cpio for `kernel`; unchanged inputs give back the cached file.

    guest_files maps guest paths (e.g. "/ext/foo.ko") to host files. Named
    in-tree modules come with their dependencies and a matching modules.dep,
    so busybox modprobe works in the guest; nothing is loaded at boot.
    """
    archive = Newc()
    for directory in DIRECTORIES:
        archive.directory(directory)
    archive.char_device("dev/console", 0o600, 5, 1)
    archive.file("init", GUEST_INIT.read_bytes(), 0o755)
    archive.file("bin/busybox", BUSYBOX.read_bytes(), 0o755)
    archive.file("bin/kmsg-since", build_static(KMSG_SINCE).read_bytes(), 0o755)
    archive.file("bin/sysfs-poll", build_static(SYSFS_POLL).read_bytes(), 0o755)
    for guest_path, host_path in sorted(guest_files.items()):
        archive.file(guest_path, host_path.read_bytes(), host_path.stat().st_mode & 0o777)
    _add_kernel_modules(archive, kernel, kernel_modules)

    data = archive.finish()
    path = cache_dir("initramfs") / f"{hashlib.sha256(data).hexdigest()[:24]}.cpio.gz"
    if not path.exists():
        partial = path.with_suffix(f".partial-{os.getpid()}")  # another lane may write it too
        partial.write_bytes(gzip.compress(data, mtime=0))
        partial.replace(path)
    return path


def _add_kernel_modules(archive: "Newc", kernel: Kernel, names: list[str]):
    deps = _modules_dep(kernel.modules_dir)
    # Modules built into this kernel have no file to ship.
    builtin = {_module_name(path)
               for path in (kernel.modules_dir / "modules.builtin").read_text().split()}
    wanted: set[str] = set()
    todo = [_module_name(n) for n in names if _module_name(n) not in builtin]
    while todo:
        name = todo.pop()
        if name not in deps:
            raise KeyError(f"module {name} is not in {kernel.modules_dir}/modules.dep")
        if name not in wanted:
            wanted.add(name)
            todo += [_module_name(path) for path in deps[name][1]]

    base = f"lib/modules/{kernel.release}"
    dep_lines = []
    for name in sorted(wanted):
        path, requires = deps[name]
        archive.file(f"{base}/{_strip_compression(path)}",
                     _decompressed(kernel.modules_dir / path), 0o644)
        dep_lines.append(f"{_strip_compression(path)}: "
                         + " ".join(_strip_compression(p) for p in requires))
    archive.file(f"{base}/modules.dep", ("\n".join(dep_lines) + "\n").encode(), 0o644)


def _modules_dep(modules_dir: Path) -> dict[str, tuple[str, list[str]]]:
    """{module name: (path, [paths it needs])} from modules.dep."""
    deps = {}
    for line in (modules_dir / "modules.dep").read_text().splitlines():
        path, _, requires = line.partition(":")
        deps[_module_name(path)] = (path, requires.split())
    return deps


def _module_name(path: str) -> str:
    return _strip_compression(Path(path).name).removesuffix(".ko").replace("-", "_")


def _strip_compression(path: str) -> str:
    return path.removesuffix(".xz").removesuffix(".zst")


def _decompressed(path: Path) -> bytes:
    """Module bytes; busybox insmod cannot read .ko.xz or .ko.zst (the signature survives)."""
    if path.name.endswith(".xz"):
        return lzma.decompress(path.read_bytes())
    if path.name.endswith(".zst"):
        return subprocess.run(["zstd", "-dcq", str(path)], check=True,
                              stdout=subprocess.PIPE).stdout
    return path.read_bytes()


class Newc:
    """Writer for the "newc" cpio format the kernel unpacks; deterministic for caching."""

    def __init__(self):
        self.parts: list[bytes] = []
        self.inode = 0
        self.directories: set[str] = set()

    def directory(self, path: str):
        path = path.strip("/")
        if path not in ("", ".") and path not in self.directories:
            self.directory(str(Path(path).parent))
            self.directories.add(path)
            self._entry(path, 0o040755, b"")

    def file(self, path: str, data: bytes, mode: int):
        path = path.strip("/")
        self.directory(str(Path(path).parent))
        self._entry(path, 0o100000 | mode, data)

    def char_device(self, path: str, mode: int, major: int, minor: int):
        self._entry(path.strip("/"), 0o020000 | mode, b"", rdev=(major, minor))

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0, b"")
        return b"".join(self.parts)

    def _entry(self, name: str, mode: int, data: bytes, rdev=(0, 0)):
        self.inode += 1
        encoded = name.encode() + b"\0"
        fields = (self.inode, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1],
                  len(encoded), 0)
        header = b"070701" + b"".join(b"%08x" % value for value in fields)
        self.parts += [header, encoded, _pad(len(header) + len(encoded)), data, _pad(len(data))]


def _pad(length: int) -> bytes:
    return b"\0" * (-length % 4)
