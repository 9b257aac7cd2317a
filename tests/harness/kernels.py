"""Debian kernels the tests run on: which suite, how to fetch them, how to build for them."""
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .apt import PrivateApt
from .cache import cache_dir
from .commands import run
from .timing import stage


@dataclass(frozen=True)
class KernelSpec:
    suites: tuple[str, ...]      # first one names the private apt config
    kbuild: str                  # package with the kbuild tools the headers use
    flavour: str = "amd64"
    # Where out-of-tree modules are built: "host" runs make here with `env`.
    # Kernels whose headers need a newer toolchain than the host's will need a
    # "chroot" builder (field notes); build.py is where it plugs in.
    builder: str = "host"
    env: dict = field(default_factory=dict)  # extra make variables, e.g. CC


KERNELS = {
    "6.1": KernelSpec(suites=("bookworm", "bookworm-updates", "bookworm-security"),
                      kbuild="linux-kbuild-6.1"),
}


@dataclass(frozen=True)
class Kernel:
    name: str
    spec: KernelSpec
    release: str          # uname -r
    version: str          # Debian package version
    root: Path            # the extracted packages
    vmlinuz: Path
    kdir: Path            # headers build dir, for make -C
    modules_dir: Path     # lib/modules/<release>
    env: dict


def prepare_kernel(name: str) -> Kernel:
    """Download and extract the current Debian kernel `name`, ready to build against and boot."""
    spec = KERNELS[name]
    apt = PrivateApt(spec.suites[0], spec.suites)
    with stage(f"apt resolve {name}"):
        apt.update()
        abi, version = _current_abi(apt, spec.flavour)
    release = f"{abi}-{spec.flavour}"
    top = cache_dir("kernels", release)
    root = top / "root"
    stamp = top / "extracted"
    if not (stamp.exists() and stamp.read_text() == version):
        packages = [f"linux-image-{release}-unsigned", f"linux-headers-{release}",
                    f"linux-headers-{abi}-common", spec.kbuild]
        with stage(f"download {name}"):
            debs = [apt.download(p, version) for p in packages]
            _check_same_source(apt, packages, version)
        with stage(f"extract {name}"):
            shutil.rmtree(root, ignore_errors=True)
            for deb in debs:
                run(["dpkg-deb", "-x", str(deb), str(root)])
            _relocate_headers(root, release)
            # Debian generates modules.dep in postinst, which we do not run.
            run(["depmod", "-b", str(root), "-F", str(root / "boot" / f"System.map-{release}"),
                 release])
        stamp.write_text(version)
    return Kernel(name=name, spec=spec, release=release, version=version, root=root,
                  vmlinuz=root / "boot" / f"vmlinuz-{release}",
                  kdir=root / "usr" / "src" / f"linux-headers-{release}",
                  modules_dir=root / "lib" / "modules" / release, env=dict(spec.env))


def _current_abi(apt: PrivateApt, flavour: str) -> tuple[str, str]:
    """(abi, version) that the metapackage linux-image-<flavour> points at now."""
    depends = apt.show(f"linux-image-{flavour}")["Depends"]
    match = re.search(rf"linux-image-(\S+)-{flavour} \(= ([^)]+)\)", depends)
    if not match:
        raise RuntimeError(f"cannot find the kernel ABI in linux-image-{flavour} "
                           f"Depends: {depends}")
    return match.group(1), match.group(2)


def _check_same_source(apt: PrivateApt, packages: list[str], version: str):
    """Image, headers and kbuild must come from one source upload, or the build is meaningless."""
    sources = {}
    for package in packages:
        fields = apt.show(package, version)
        source = fields.get("Source", package)
        if "(" not in source:
            source = f"{source} ({fields['Version']})"
        sources[package] = source
    if len(set(sources.values())) != 1:
        raise RuntimeError(f"kernel packages come from different sources: {sources}")


def _relocate_headers(root: Path, release: str):
    """Point the headers' absolute /usr/src paths into the extracted tree."""
    usr_src = root / "usr" / "src"
    makefile = usr_src / f"linux-headers-{release}" / "Makefile"
    text = makefile.read_text()
    relocated = text.replace("/usr/src/", f"{usr_src}/")
    if relocated == text:
        raise RuntimeError(f"{makefile} has no /usr/src path to rewrite:\n{text}")
    makefile.write_text(relocated)
