"""The simulated VMBus and Dynamic Memory host (tests/hv_host), built per kernel ABI.

hv_sim_vmbus.ko exports the vmbus functions the in-tree hv_balloon.ko
imports. Their modversions CRCs match Debian's only when the exporting
translation units see the same types as Debian's drivers/hv/vmbus_drv.c and
channel.c did, so the build takes their #include lines, and the private
drivers/hv headers, from linux-source-<major.minor> of exactly the kernel's
package version (reference/hyperv-protocol.md, 4.3). Only those files are
extracted, into $BALLOON_EXT_CACHE/hv-host/source/<version>/. The module is
built in this checkout's build folder, under a key of every input, and its
CRCs are checked against the headers' Module.symvers and hv_balloon.ko's
__versions: a mismatch fails the build with the symbols named.

Where vmbus is built into vmlinux (7.x: the kernel's Module.symvers says
so), no module can export those names. There the module exports the
hv_sim_ names of tests/hv_host/hv_sim_redirect.h instead, from public
headers only, and redirected_driver() builds src/hv_balloon_ext a second
time with that header force-included, so that its vmbus calls reach the
simulated host (tests/hv_host/README).
"""
import fcntl
import hashlib
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from . import timing
from .apt import private_apt
from .build import BUILDERS, sync_tree
from .cache import cache_dir, checkout_dir
from .commands import run
from .kernels import Kernel

SOURCE_DIR = Path(__file__).resolve().parents[1] / "hv_host"
MODULE = "hv_sim_vmbus"
# The Debian file whose includes each exporting unit copies, and the generated name.
INCLUDE_LISTS = {"vmbus_drv.c": "hv_sim_vmbus_drv_includes.h",
                 "channel.c": "hv_sim_channel_includes.h"}
# The vmbus functions hv_balloon.ko imports, and the one that pairs with them.
IMPORTED = ("__vmbus_driver_register", "vmbus_open", "vmbus_close", "vmbus_sendpacket",
            "vmbus_recvpacket")
EXPORTED = IMPORTED + ("vmbus_driver_unregister",)
# Bumped when what _extract() keeps changes.
EXTRACT_RECIPE = "1: drivers/hv/*.h vmbus_drv.c channel.c"


def source_package(kernel: Kernel) -> str:
    """linux-source-<major.minor> of the kernel's version, e.g. linux-source-6.12."""
    match = re.match(r"(\d+\.\d+)", kernel.version)
    if not match:
        raise RuntimeError(f"kernel version {kernel.version!r}: no major.minor")
    return f"linux-source-{match.group(1)}"


def source_files(kernel: Kernel) -> Path:
    """drivers/hv of the kernel's own linux-source package: the headers and two .c files."""
    package = source_package(kernel)
    top = cache_dir("hv-host", "source", kernel.version)
    hv = top / "drivers" / "hv"
    stamp = top / "stamp"
    with open(top / "lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another lane waits, then finds the stamp
        if stamp.exists() and stamp.read_text() == EXTRACT_RECIPE:
            return hv
        apt = private_apt(kernel.spec.apt)
        if not apt.has(package, kernel.version):
            raise RuntimeError(f"the {kernel.spec.apt} archive has no {package}="
                               f"{kernel.version}, the version of the {kernel.name} kernel "
                               f"under test; another version's private headers give other "
                               f"CRCs")
        with timing.stage(f"hv_host download {package}"):
            deb = apt.download(package, kernel.version)
        with timing.stage(f"hv_host extract {package} drivers/hv"):
            _extract(deb, package, top)
        stamp.write_text(EXTRACT_RECIPE)
    return hv


def _extract(deb: Path, package: str, top: Path):
    shutil.rmtree(top / "drivers", ignore_errors=True)
    with tempfile.TemporaryDirectory(dir=top) as tmp:
        # The .deb holds usr/src/<package>.tar.xz; only drivers/hv comes out of it.
        run(["dpkg-deb", "-x", str(deb), tmp])
        tarball = Path(tmp) / "usr" / "src" / f"{package}.tar.xz"
        wanted = [f"{package}/drivers/hv/*.h", f"{package}/drivers/hv/vmbus_drv.c",
                  f"{package}/drivers/hv/channel.c"]
        run(["tar", "-xJf", str(tarball), "-C", tmp, "--wildcards", *wanted])
        (top / "drivers").mkdir()
        shutil.move(str(Path(tmp) / package / "drivers" / "hv"), str(top / "drivers" / "hv"))


def include_lines(c_file: Path) -> list[str]:
    """The #include lines of a Debian .c file, in order; fails on conditional ones."""
    lines, depth = [], 0
    for line in c_file.read_text().splitlines():
        stripped = line.strip()
        if re.match(r"#\s*if", stripped):
            depth += 1
        elif re.match(r"#\s*endif", stripped):
            depth -= 1
        elif re.match(r"#\s*include\b", stripped):
            if depth:
                raise RuntimeError(f"{c_file}: {stripped!r} is conditional; copying the "
                                   f"includes of {c_file.name} needs its #if too")
            lines.append(stripped)
    if not any('"hyperv_vmbus.h"' in line for line in lines):
        raise RuntimeError(f"{c_file} does not include hyperv_vmbus.h: not the file expected")
    return lines


def _own_sources() -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(SOURCE_DIR.iterdir())
            if path.suffix in (".c", ".h") or path.name in ("Kbuild", "Makefile")}


def _inputs(kernel: Kernel, hv: Path) -> dict[str, bytes]:
    """Every file of the build folder, by name: ours, Debian's headers, the includes."""
    files = _own_sources()
    for path in sorted(hv.glob("*.h")):
        if path.name in files:
            raise RuntimeError(f"Debian's drivers/hv/{path.name} has the name of one of ours")
        files[path.name] = path.read_bytes()
    for c_file, generated in INCLUDE_LISTS.items():
        header = (f"/* Generated by tests/harness/hv_host.py: the includes of Debian "
                  f"{kernel.version} drivers/hv/{c_file}. */\n")
        files[generated] = (header + "\n".join(include_lines(hv / c_file)) + "\n").encode()
    return files


def vmbus_builtin(kernel: Kernel) -> bool:
    """Whether vmlinux exports vmbus (CONFIG_HYPERV=y), by the kernel's Module.symvers."""
    return exported_by(kernel.kdir / "Module.symvers", "vmbus_sendpacket") == "vmlinux"


def exported_by(path: Path, symbol: str) -> str:
    """The module (or vmlinux) a Module.symvers says exports `symbol`."""
    for line in path.read_text().splitlines():
        fields = line.split("\t")
        if len(fields) >= 3 and fields[1] == symbol:
            return fields[2]
    raise RuntimeError(f"{path}: {symbol} is not exported at all")


def build_hv_sim(kernel: Kernel) -> Path:
    """hv_sim_vmbus.ko for `kernel`, built once per input set, its CRCs checked
    (where it exports vmbus's own names)."""
    redirect = vmbus_builtin(kernel)
    with timing.stage(f"hv_host sources {kernel.name}"):
        files = _own_sources() if redirect else _inputs(kernel, source_files(kernel))
    digest = hashlib.sha256(kernel.release.encode())
    for name, data in sorted(files.items()):
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    # In the kernel's build folder: the chroot builder binds that one.
    out = checkout_dir("build", kernel.release, f"hv_host-{digest.hexdigest()[:12]}")
    ko = out / f"{MODULE}.ko"
    with open(out.parent / "hv_host.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "checked").exists():
            with timing.stage(f"hv_host build {kernel.name}"):
                for name, data in files.items():
                    (out / name).write_bytes(data)
                BUILDERS[kernel.spec.builder](kernel, out, out / "make.log",
                                              ["HV_SIM_REDIRECT=y"] if redirect else [])
            if not redirect:
                check_crcs(kernel, out / "Module.symvers", ko)
            (out / "checked").write_text("ok\n")
    return ko


def redirected_driver(kernel: Kernel, repo: Path, sim_ko: Path) -> Path:
    """hv_balloon_ext.ko built from `repo` with hv_sim_redirect.h force-included
    and linked against the simulated host beside `sim_ko`: for kernels whose
    vmbus is built in. The whole project is built, in a tree of its own."""
    top = checkout_dir("build", kernel.release)
    tree = checkout_dir("build", kernel.release, "src-hv-redirect")
    with open(top / "hv-redirect.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with timing.stage(f"hv_balloon_ext redirected build {kernel.name}"):
            sync_tree(repo, tree, manifest=top / "manifest-hv-redirect")
            # The compile probes' results for this kernel, from the plain
            # build if it ran: the same headers give the same answers. Fresh
            # mtimes (copyfile), so make takes them as newer than the probes.
            probed = top / "src" / "src" / "compat" / "generated"
            if probed.is_dir():
                shutil.copytree(probed, tree / "src" / "compat" / "generated",
                                dirs_exist_ok=True, copy_function=shutil.copyfile)
            header = tree / "tests" / "hv_host" / "hv_sim_redirect.h"
            BUILDERS[kernel.spec.builder](
                kernel, tree, top / "make-hv-redirect.log",
                [f"KCFLAGS=-include {header}",
                 f"KBUILD_EXTRA_SYMBOLS={sim_ko.parent / 'Module.symvers'}"])
    ko = tree / "hv_balloon_ext.ko"
    imports = module_imports(ko)
    if "vmbus_sendpacket" in imports or "hv_sim_vmbus_sendpacket" not in imports:
        raise RuntimeError(f"{ko}: vmbus calls not redirected (imports {sorted(imports)})")
    return ko


def symvers(path: Path) -> dict[str, str]:
    """{symbol: crc} from a Module.symvers."""
    crcs = {}
    for line in path.read_text().splitlines():
        fields = line.split("\t")
        if len(fields) >= 2:
            crcs[fields[1]] = f"0x{int(fields[0], 16):08x}"
    return crcs


def module_imports(ko: Path) -> set[str]:
    """The symbols a module leaves undefined, by nm."""
    text = subprocess.run(["nm", "-u", str(ko)], check=True, text=True,
                          stdout=subprocess.PIPE).stdout
    return {line.split()[-1] for line in text.splitlines() if line.strip()}


def module_versions(ko: Path) -> dict[str, str]:
    """{symbol: crc} from a module's __versions, by modprobe --dump-modversions."""
    text = subprocess.run(["/sbin/modprobe", "--dump-modversions", str(ko)], check=True,
                          text=True, stdout=subprocess.PIPE).stdout
    return {symbol: f"0x{int(crc, 16):08x}" for crc, symbol in
            (line.split() for line in text.splitlines() if line.strip())}


def in_tree_balloon(kernel: Kernel) -> Path:
    """The kernel's own hv_balloon.ko, decompressed if shipped as .ko.xz."""
    found = sorted(kernel.modules_dir.glob("kernel/drivers/hv/hv_balloon.ko*"))
    if not found:
        raise RuntimeError(f"no hv_balloon.ko in {kernel.modules_dir}")
    if found[0].suffix == ".ko":
        return found[0]
    plain = cache_dir("hv-host", "modules", kernel.release) / "hv_balloon.ko"
    if not plain.exists():
        data = subprocess.run(["xz", "-dc", str(found[0])], check=True,
                              stdout=subprocess.PIPE).stdout
        partial = plain.with_suffix(".partial")
        partial.write_bytes(data)
        partial.replace(plain)
    return plain


def crc_problems(ours: dict[str, str], debian: dict[str, str],
                 imports: dict[str, str]) -> list[str]:
    """What is wrong with our exports' CRCs against Debian's Module.symvers (`debian`)
    and hv_balloon.ko's __versions (`imports`); empty when all match."""
    wrong = []
    for symbol in EXPORTED:
        want = debian.get(symbol)
        if want is None:
            wrong.append(f"{symbol}: not in Debian's Module.symvers")
        elif ours.get(symbol) != want:
            wrong.append(f"{symbol}: ours {ours.get(symbol)}, Debian's {want}")
        if symbol in IMPORTED and imports.get(symbol) != want:
            wrong.append(f"{symbol}: hv_balloon.ko imports {imports.get(symbol)}, "
                         f"Module.symvers says {want}")
    return wrong


def check_crcs(kernel: Kernel, our_symvers: Path, ko: Path):
    """Our exports' CRCs against the headers' Module.symvers and hv_balloon.ko's imports."""
    wrong = crc_problems(symvers(our_symvers), symvers(kernel.kdir / "Module.symvers"),
                         module_versions(in_tree_balloon(kernel)))
    if wrong:
        raise RuntimeError(f"{ko.name} for {kernel.release}: modversions CRCs differ from "
                           f"Debian's, so hv_balloon.ko would not load against it (are the "
                           f"includes those of {kernel.version}'s vmbus_drv.c and "
                           f"channel.c?):\n  " + "\n  ".join(wrong))
