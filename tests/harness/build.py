"""Building the project's modules for a kernel, and the static guest tools."""
import fcntl
import filecmp
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from .cache import cache_dir, checkout_dir
from .chroot import ensure_chroot, in_chroot, using
from .commands import run
from .kernels import Kernel


def prepare_toolchain(kernel: Kernel):
    """Make sure the kernel's builder is ready (for "chroot", the suite's chroot exists)."""
    if kernel.spec.builder == "chroot":
        ensure_chroot(kernel.spec.chroot_suite, kernel.toolchain)


def build_modules(kernel: Kernel, srcdir: Path) -> Path:
    """Build the project (and tests/modules if present) for `kernel`; return the build tree.

    Project modules end up at the top of the returned directory, test modules in
    its tests/modules/.
    """
    top = checkout_dir("build", kernel.release)
    tree = checkout_dir("build", kernel.release, "src")
    # One build at a time in a tree: a benchmark and a test run may share it.
    with open(top / "lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        sync_tree(srcdir, tree, manifest=top / "manifest")
        make = BUILDERS[kernel.spec.builder]
        make(kernel, tree, top / "make.log")
        if (tree / "tests" / "modules" / "Makefile").exists():
            make(kernel, tree / "tests" / "modules", top / "make-tests.log")
    return tree


def _make_on_host(kernel: Kernel, directory: Path, log: Path, extra_vars=()):
    make_vars = [f"{key}={value}" for key, value in kernel.env.items()] + list(extra_vars)
    run(["make", f"-j{os.cpu_count()}", f"KDIR={kernel.kdir}", *make_vars],
        cwd=directory, log=log)


def _make_in_chroot(kernel: Kernel, directory: Path, log: Path, extra_vars=()):
    """make inside the kernel's suite chroot, against the exact headers downloaded.

    The kernel's cache folder (read-only) and the build folder are bound into
    the chroot at their host paths, so KDIR, M= and the relocated headers'
    Makefile need no translation.
    """
    root = ensure_chroot(kernel.spec.chroot_suite, kernel.toolchain)
    make_vars = [f"{key}={value}" for key, value in kernel.env.items()] + list(extra_vars)
    build_top = checkout_dir("build", kernel.release)
    with using(kernel.spec.chroot_suite):
        in_chroot(root, ["make", f"-j{os.cpu_count()}", f"KDIR={kernel.kdir}", *make_vars],
                  binds=[(kernel.top, False), (build_top, True)], cwd=directory, log=log)


# How each KernelSpec.builder kind runs make; extra_vars are more VAR=value.
BUILDERS = {"host": _make_on_host, "chroot": _make_in_chroot}


def sync_tree(srcdir: Path, dest: Path, manifest: Path):
    """Copy the project's files (tracked and new, not ignored) to dest, rsync-style.

    Unchanged files keep their mtime so make stays incremental; files that left
    the project since the last sync are removed.
    """
    listing = subprocess.run(
        ["git", "-C", str(srcdir), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        check=True, stdout=subprocess.PIPE).stdout.decode()
    # --cached still lists files deleted in the work tree.
    files = sorted({name for name in listing.split("\0") if (srcdir / name).is_file()})
    for name in files:
        source, target = srcdir / name, dest / name
        if target.exists() and filecmp.cmp(source, target, shallow=False):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)  # fresh mtime, so make rebuilds what depends on it
        shutil.copymode(source, target)
    previous = manifest.read_text().splitlines() if manifest.exists() else []
    for name in set(previous) - set(files):
        (dest / name).unlink(missing_ok=True)
    manifest.write_text("\n".join(files) + "\n")


def build_static(source: Path) -> Path:
    """A C file as a static binary for guests, rebuilt only when the source changes."""
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    binary = cache_dir("build", "guest") / f"{source.stem}-{digest}"
    if not binary.exists():
        partial = binary.with_suffix(f".partial-{os.getpid()}")  # another lane may build it too
        run(["gcc", "-static", "-O2", "-Wall", "-o", str(partial), str(source)])
        partial.replace(binary)
    return binary


def build_hog(srcdir: Path) -> Path:
    """tests/guest/hog.c, the memory hog, as a static binary."""
    return build_static(srcdir / "tests" / "guest" / "hog.c")
