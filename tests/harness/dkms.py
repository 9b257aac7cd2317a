"""DKMS for real: a suite's own dkms installs balloon-ext for that suite's kernel.

Inside the suite's chroot (chroot.py), packaging/dkms-install.sh runs as an
admin would run it, against the downloaded kernel: the chroot gets a
/lib/modules/<release> of its own, holding the `build` link dkms looks for
(the headers, bound read-only at their host path) and the kernel's module
lists, so depmod sees what it would on a real system. The test then boots
exactly the modules dkms installed, and checks packaging/dkms-remove.sh
leaves nothing behind. The kernel's cached tree is never written.
"""
import fcntl
import lzma
import shutil
from contextlib import contextmanager
from pathlib import Path

from .cache import cache_dir, checkout_dir
from .chroot import ensure_chroot, in_chroot, using
from .kernels import Kernel

# xz-utils: dkms compresses modules like the kernel's own (.ko.xz from 6.12).
PACKAGES = ("xz-utils",)
MODULE_LISTS = ("modules.order", "modules.builtin", "modules.builtin.modinfo")
DKMS_NAME = "balloon-ext"
# The modprobe rule goes to /lib/modprobe.d without merged /usr (install-files.sh).
# What dkms.conf has dkms build and install: vmw_balloon_ext on x86 only,
# which every kernel here is.
MODULES = ("balloon_core", "virtio_balloon_ext", "vmw_balloon_ext")
INSTALLED_FILES = ("/usr/lib/modprobe.d/balloon-ext.conf", "/lib/modprobe.d/balloon-ext.conf",
                   "/usr/sbin/balloon-ext")


class Dkms:
    """balloon-ext under the dkms of `kernel`'s suite; methods run in its chroot."""

    def __init__(self, kernel: Kernel, repo: Path):
        self.kernel = kernel
        self.repo = repo
        self.root = ensure_chroot(kernel.spec.suite, kernel.toolchain + PACKAGES)
        self.modules_dir = self.root / "lib" / "modules" / kernel.release
        version = (repo / "dkms.conf").read_text().split('PACKAGE_VERSION="', 1)[1]
        self.version = version.split('"', 1)[0]

    def run(self, step: str, *cmd: str) -> str:
        """cmd in the chroot, with the kernel tree and the repository bound read-only.

        Its output goes to the log <kernel>-dkms-<step>.log.
        """
        log = checkout_dir("logs") / f"{self.kernel.name}-dkms-{step}.log"
        return in_chroot(self.root, list(cmd), binds=[(self.kernel.top, False),
                                                      (self.repo, False)],
                         cwd=self.repo, log=log)

    @contextmanager
    def kernel_installed(self):
        """The kernel's /lib/modules/<release> in the chroot, as a package would leave it."""
        shutil.rmtree(self.modules_dir, ignore_errors=True)
        self.modules_dir.mkdir(parents=True)
        try:
            (self.modules_dir / "build").symlink_to(self.kernel.kdir)
            for name in MODULE_LISTS:
                if (self.kernel.modules_dir / name).exists():
                    shutil.copyfile(self.kernel.modules_dir / name, self.modules_dir / name)
            yield
        finally:
            shutil.rmtree(self.modules_dir, ignore_errors=True)

    def version_of_dkms(self) -> str:
        return self.run("version", "dpkg-query", "-W", "-f", "${Version}", "dkms").strip()

    def install(self) -> str:
        return self.run("install", "sh", "packaging/dkms-install.sh", self.kernel.release)

    def remove(self) -> str:
        return self.run("remove", "sh", "packaging/dkms-remove.sh")

    def status(self) -> str:
        return self.run("status", "dkms", "status")

    def installed_modules(self) -> list[Path]:
        """The module files dkms put under /lib/modules/<release>, as host paths."""
        return sorted(path for path in self.modules_dir.rglob("*.ko*")
                      if path.name.split(".ko")[0] in MODULES)

    def leftovers(self) -> list[str]:
        """Anything of balloon-ext still in the chroot (relative to its root)."""
        found = [str(path.relative_to(self.root)) for path in self.installed_modules()]
        for path in (f"var/lib/dkms/{DKMS_NAME}", f"usr/src/{DKMS_NAME}-{self.version}",
                     *(name.lstrip("/") for name in INSTALLED_FILES)):
            if (self.root / path).exists() or (self.root / path).is_symlink():
                found.append(path)
        for name in ("modules.dep", "modules.alias"):
            listing = self.modules_dir / name
            if listing.exists() and "balloon_core" in listing.read_text():
                found.append(f"{listing.relative_to(self.root)} names balloon_core")
        return found


def guest_copy(module: Path) -> Path:
    """A module file busybox insmod can load: .ko.xz decompressed, signature kept."""
    if not module.name.endswith(".xz"):
        return module
    target = checkout_dir("build", "dkms") / module.name.removesuffix(".xz")
    target.write_bytes(lzma.decompress(module.read_bytes()))
    return target


@contextmanager
def using_suite(kernel: Kernel):
    """Hold the suite's chroot for the whole install, boot and removal.

    Make the chroot (Dkms()) first: making it takes the same lock exclusively.
    An install writes the chroot's /usr/src, /var/lib/dkms and /lib/modules,
    so two test runs sharing a cache (two checkouts, a CI runner and a
    developer) take turns here; builds in the chroot touch none of those
    and go on meanwhile.
    """
    with open(cache_dir("chroots") / f"{kernel.spec.suite}.dkms.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with using(kernel.spec.suite):
            yield


