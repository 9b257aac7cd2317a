"""Debian kernels the tests run on: which suite, how to fetch them, how to build for them.

Package names come from the archive, not from guesses: the metapackage
linux-image-<flavour> names the current ABI, and the Depends of the image and
headers packages name the rest (the split binary/modules/base packages of 7.x,
the headers' common and kbuild packages, the compiler the headers want).
"""
import fcntl
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .apt import PrivateApt, private_apt
from .cache import cache_dir
from .commands import run
from .timing import stage


@dataclass(frozen=True)
class KernelSpec:
    apt: str                     # private apt config, a key of apt.CONFIGS
    suite: str                   # the Debian suite it is installed on: whose dkms tests it
    flavour: str = "amd64"
    # Where out-of-tree modules are built (a key of build.BUILDERS): "host" runs
    # make here with `env`; "chroot" runs it in a minbase chroot of `chroot_suite`,
    # for headers that need a newer gcc and glibc than the host's.
    builder: str = "host"
    chroot_suite: str | None = None
    env: dict = field(default_factory=dict)  # extra make variables, e.g. CC
    append: str = ""  # kernel command line the guests of this kernel need (conftest adds it)
    # Built from the source of this stock kernel name, with debug options (debug_kernel.py).
    debug_of: str | None = None
    # False: a second kernel of a generation already tested in full; only the
    # tests marked every_kernel run on it (conftest).
    full_suite: bool = True


KERNELS = {
    # Built with gcc-10; the host's gcc-12 builds modules that load fine.
    "5.10": KernelSpec(apt="bullseye", suite="bullseye", env={"CC": "gcc-12"}),
    "6.1": KernelSpec(apt="bookworm", suite="bookworm"),
    "6.12": KernelSpec(apt="trixie", suite="trixie", builder="chroot", chroot_suite="trixie"),
    "7.x": KernelSpec(apt="sid", suite="sid", builder="chroot", chroot_suite="sid"),
    # Built in trixie with gcc-14, so it builds in the trixie chroot. sid's
    # 7.x runs the whole suite; this one the build, DKMS on trixie and each
    # driver's core scenarios, which is where a 7.x minor release differs.
    "7.x-bpo": KernelSpec(apt="trixie-backports", suite="trixie", builder="chroot",
                          chroot_suite="trixie", full_suite=False),
    # 6.1 rebuilt with lockdep, KASAN, kmemleak and fault injection; the host's
    # gcc-12 is the compiler Debian used. KASAN reports only its first bug
    # unless told otherwise; kmemleak is on from boot by config.
    "6.1-debug": KernelSpec(apt="bookworm", suite="bookworm", debug_of="6.1",
                            append="kasan_multi_shot"),
}
# Run only when KERNELS names them, not by default (conftest).
OPT_IN = ("6.1-debug",)
# Tested only when its kernel is not the same upstream version as sid's (conftest).
BACKPORTS = "7.x-bpo"
SID = "7.x"


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
    # Packages the headers need around them (compiler, kbuild's libraries), for
    # builders that install them (the chroot).
    toolchain: tuple[str, ...] = ()

    def cmdline(self, append: str = "") -> str:
        """A guest's extra kernel command line: this kernel's own (spec.append), then append."""
        return " ".join(part for part in (self.spec.append, append) if part)

    @property
    def stock(self) -> str:
        """The Debian kernel name this one's code is: a debug build names its source's."""
        return self.spec.debug_of or self.name

    @property
    def top(self) -> Path:
        """The cache folder holding everything of this kernel (root is inside)."""
        return self.root.parent


@dataclass(frozen=True)
class Resolved:
    """What the archive offers for a kernel name right now, before any download."""
    name: str
    abi: str              # e.g. 6.12.117+deb13
    version: str          # Debian package version, e.g. 6.12.117-1

    @property
    def upstream(self) -> str:
        return self.abi.split("-")[0].split("+")[0]


def resolve(name: str) -> Resolved:
    """The current ABI and version of kernel `name` (apt lists refreshed twice a day)."""
    spec = KERNELS[name]
    apt = private_apt(spec.apt)
    apt.update()
    abi, version = _current_abi(apt, spec.flavour)
    return Resolved(name, abi, version)


def default_kernel_names() -> tuple[list[str], list[str]]:
    """(names, notes): every kernel but OPT_IN, the backports one only if sid has another version.

    The notes say which way the backports kernel went, for a report header.
    """
    names = [name for name in KERNELS if name not in OPT_IN]
    sid, backports = resolve(SID), resolve(BACKPORTS)
    if backports.upstream == sid.upstream:
        names.remove(BACKPORTS)
        note = (f"{BACKPORTS}: trixie-backports has {backports.abi}, the same upstream "
                f"kernel as sid's {sid.abi}: not tested separately")
    else:
        note = (f"{BACKPORTS}: trixie-backports has {backports.abi}, sid has {sid.abi}: "
                f"tested as its own kernel")
    return names, [note]


def prepare_kernel(name: str) -> Kernel:
    """Download and extract the current Debian kernel `name`, ready to build against and boot."""
    spec = KERNELS[name]
    if spec.debug_of:
        from .debug_kernel import prepare_debug_kernel  # it builds on this module
        return prepare_debug_kernel(name)
    apt = private_apt(spec.apt)
    with stage(f"apt resolve {name}"):
        resolved = resolve(name)
        abi, version = resolved.abi, resolved.version
        release = f"{abi}-{spec.flavour}"
        packages, toolchain = _packages(apt, release, version)
    top = cache_dir("kernels", release)
    root = top / "root"
    stamp = top / "extracted"
    # Two test lanes (tests/run_matrix.py) or checkouts may want the same kernel.
    with open(top / "lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (stamp.exists() and stamp.read_text() == version):
            _download_and_extract(apt, name, release, version, packages, root)
            stamp.write_text(version)
    return Kernel(name=name, spec=spec, release=release, version=version, root=root,
                  vmlinuz=_vmlinuz(root, release),
                  kdir=root / "usr" / "src" / f"linux-headers-{release}",
                  modules_dir=root / "lib" / "modules" / release, env=dict(spec.env),
                  toolchain=toolchain)


def _download_and_extract(apt: PrivateApt, name: str, release: str, version: str,
                          packages: list[str], root: Path):
    with stage(f"download {name}"):
        debs = [apt.download(p, version) for p in packages]
        _check_same_source(apt, packages, version)
    with stage(f"extract {name}"):
        (root.parent / "extracted").unlink(missing_ok=True)
        shutil.rmtree(root, ignore_errors=True)
        for deb in debs:
            run(["dpkg-deb", "-x", str(deb), str(root)])
        _merge_usr(root)
        _relocate_headers(root, release)
        # Debian generates modules.dep in postinst, which we do not run.
        run(["depmod", "-b", str(root), "-F", str(_system_map(root, release)), release])


def _packages(apt: PrivateApt, release: str, version: str) -> tuple[list[str], tuple[str, ...]]:
    """(packages to download, toolchain packages) for kernel `release` at `version`.

    Up to 6.12 the image is linux-image-<release>-unsigned. From 7.x the
    image package is a signed metapackage over linux-binary (the kernel),
    linux-modules and linux-base (config, System.map); the unsigned kernel is
    linux-binary-unsigned-<release>.
    """
    image = f"linux-image-{release}-unsigned"
    if apt.has(image, version):
        images = [image]
    else:
        depends = _depends(apt.show(f"linux-image-{release}", version))
        parts = [name for name in depends
                 if re.fullmatch(rf"linux-(binary|modules|base)-{re.escape(release)}", name)]
        if not any(name.startswith("linux-binary-") for name in parts):
            raise RuntimeError(f"linux-image-{release} depends on no linux-binary package: "
                               f"{depends}")
        images = [name.replace("linux-binary-", "linux-binary-unsigned-") for name in parts]
    headers = f"linux-headers-{release}"
    depends = _depends(apt.show(headers, version))
    # The arch-independent headers and the kbuild tools; not linux-base (scripts
    # for installing) and not linux-image (the alternative the headers offer).
    tree = [name for name in depends if re.match(r"linux-(headers|kbuild)-", name)]
    if not any(name.startswith("linux-kbuild-") for name in tree):
        raise RuntimeError(f"{headers} depends on no linux-kbuild package: {depends}")
    toolchain = [name for name in depends if not name.startswith("linux-")]
    for name in tree:
        if name.startswith("linux-kbuild-"):
            toolchain += _depends(apt.show(name, version))
    return images + [headers] + tree, tuple(dict.fromkeys(toolchain))


def _depends(fields: dict[str, str]) -> list[str]:
    """Package names in a Depends field, the first of each alternative, no versions."""
    return [re.split(r"[\s(:]", alternative.split("|")[0].strip())[0]
            for alternative in fields.get("Depends", "").split(",") if alternative.strip()]


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


def _merge_usr(root: Path):
    """Packages of merged-/usr suites ship usr/lib/modules: give them the /lib alias."""
    lib = root / "lib"
    if (root / "usr" / "lib" / "modules").is_dir() and not lib.exists():
        lib.symlink_to("usr/lib")


def _first(what: str, *candidates: Path) -> Path:
    for path in candidates:
        if path.exists():
            return path
    raise RuntimeError(f"no {what} in the kernel packages; looked for "
                       f"{', '.join(map(str, candidates))}")


def _vmlinuz(root: Path, release: str) -> Path:
    return _first("kernel image", root / "boot" / f"vmlinuz-{release}",
                  root / "lib" / "modules" / release / "vmlinuz.unsigned",
                  root / "lib" / "modules" / release / "vmlinuz")


def _system_map(root: Path, release: str) -> Path:
    return _first("System.map", root / "boot" / f"System.map-{release}",
                  root / "lib" / "modules" / release / "System.map")


def _relocate_headers(root: Path, release: str):
    """Point the headers' absolute /usr/src paths into the extracted tree."""
    usr_src = root / "usr" / "src"
    makefile = usr_src / f"linux-headers-{release}" / "Makefile"
    text = makefile.read_text()
    relocated = text.replace("/usr/src/", f"{usr_src}/")
    if relocated == text:
        raise RuntimeError(f"{makefile} has no /usr/src path to rewrite:\n{text}")
    makefile.write_text(relocated)
