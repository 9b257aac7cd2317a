"""Per-suite build chroots, for kernels whose headers need their own suite's toolchain.

The headers of 6.12 and 7.x need that suite's gcc, and their prebuilt kbuild
tools need its glibc (field notes), so modules for them are built inside a
minimal chroot of that suite: $BALLOON_EXT_CACHE/chroots/<suite>/, made once
with debootstrap and marked complete by the stamp file STAMP inside it. A
chroot without the stamp is half made and is made again.

Builds run in a private mount namespace (unshare), which binds the kernel
tree and the build tree into the chroot at their host paths, plus /dev and
/proc (sid's objtool needs /proc). The kernel drops those mounts when the
namespace's last process exits, so nothing stays mounted after a failure or
a kill, and parallel builds do not see each other's mounts.
"""
import fcntl
import json
import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

from .apt import KEYRING, NO_VALID_UNTIL, host_mirrors, private_apt
from .cache import cache_dir
from .commands import CommandError, run

STAMP = ".balloon-ext-chroot"
# A toolchain, plus what a later dkms run inside the chroot needs.
BASE_PACKAGES = ("gcc", "make", "libc6-dev", "kmod", "dkms")
ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LC_ALL": "C.UTF-8",
       "DEBIAN_FRONTEND": "noninteractive"}
DEBOOTSTRAP_SUITE = "trixie"  # whose debootstrap to use when the host's is older


def chroot_root(suite: str) -> Path:
    return cache_dir("chroots") / suite


@contextmanager
def _locked(suite: str, exclusive: bool):
    """Creation takes the suite's lock exclusively, users (using()) share it."""
    with open(cache_dir("chroots") / f"{suite}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield


def using(suite: str):
    """Hold while working in the chroot, so no other process remakes it meanwhile."""
    return _locked(suite, exclusive=False)


def _stamp(root: Path) -> dict | None:
    try:
        return json.loads((root / STAMP).read_text())
    except (OSError, ValueError):
        return None


def ensure_chroot(suite: str, packages=()) -> Path:
    """The chroot for `suite`, with BASE_PACKAGES and `packages` installed.

    Made with debootstrap if missing or half made; packages missing from a
    complete chroot are added with apt-get inside it. Returns its root.
    """
    root = chroot_root(suite)
    wanted = set(BASE_PACKAGES) | set(packages)
    stamp = _stamp(root)
    if stamp and wanted <= set(stamp["packages"]):
        return root
    with _locked(suite, exclusive=True):
        stamp = _stamp(root)  # another process may have made it meanwhile
        if stamp and wanted <= set(stamp["packages"]):
            return root
        log = cache_dir("chroots") / f"{suite}.log"
        if stamp is None:
            _debootstrap(suite, root, sorted(wanted), log)
            stamp = {"suite": suite, "packages": []}
        else:
            missing = sorted(wanted - set(stamp["packages"]))
            (root / STAMP).unlink()  # half-updated counts as half made
            in_chroot(root, ["apt-get", "-q", "update"], log=log)
            in_chroot(root, ["apt-get", "-q", "-y", "--no-install-recommends", "install",
                             *missing], log=log)
            in_chroot(root, ["apt-get", "clean"])
        stamp["packages"] = sorted(set(stamp["packages"]) | wanted)
        stamp["made"] = time.strftime("%Y-%m-%d %H:%M:%S")
        (root / STAMP).write_text(json.dumps(stamp, indent=1) + "\n")
    return root


def _debootstrap(suite: str, root: Path, packages: list[str], log: Path):
    if root.exists():
        _remove_tree(root)
    root.mkdir(parents=True)
    debootstrap, env = debootstrap_command()
    mirror = host_mirrors()["archive"]
    # In its own mount namespace, so the /proc and /sys it mounts in the
    # target go away with it even if it fails halfway.
    run(["unshare", "--mount", "--propagation", "private", "env", *env, debootstrap,
         "--variant=minbase", f"--keyring={KEYRING}", f"--include={','.join(packages)}",
         suite, str(root), mirror], log=log)
    if suite in NO_VALID_UNTIL:
        (root / "etc/apt/apt.conf.d/99balloon-ext").write_text(
            'Acquire::Check-Valid-Until "false";\n')
    in_chroot(root, ["apt-get", "clean"])


def _remove_tree(root: Path):
    """rm -rf a half-made chroot, refusing while anything is mounted below it."""
    with open("/proc/self/mountinfo") as mountinfo:
        mounted = [line.split()[4] for line in mountinfo
                   if line.split()[4].startswith(f"{root}/")]
    if mounted:
        raise RuntimeError(f"cannot remake {root}: mounted below it: {mounted}")
    shutil.rmtree(root)


def debootstrap_command() -> tuple[str, list[str]]:
    """(debootstrap, env assignments): the host's if at least trixie's, else trixie's, extracted."""
    apt = private_apt(DEBOOTSTRAP_SUITE)
    apt.update()
    version = apt.show("debootstrap")["Version"]
    host = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "debootstrap"],
                          text=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
    if host and subprocess.run(["dpkg", "--compare-versions", host, "ge", version]).returncode == 0:
        return "/usr/sbin/debootstrap", []
    top = cache_dir("tools", f"debootstrap-{version}")
    if not (top / "extracted").exists():
        deb = apt.download("debootstrap", version)
        shutil.rmtree(top / "root", ignore_errors=True)
        run(["dpkg-deb", "-x", str(deb), str(top / "root")])
        (top / "extracted").touch()
    return (str(top / "root/usr/sbin/debootstrap"),
            [f"DEBOOTSTRAP_DIR={top / 'root/usr/share/debootstrap'}"])


def chroot_command(root: Path, cmd: list[str], binds=(), cwd: Path | None = None) -> list[str]:
    """The host command that runs cmd inside the chroot at `root`, with /dev, /proc and `binds`.

    binds are (host path, writable) pairs, each mounted at the same path inside
    the chroot, so absolute paths (such as the relocated headers' Makefile or a
    QMP socket) mean the same inside and out. All mounts live in a private
    mount namespace, which the kernel drops when its last process exits.
    """
    script = ['set -e', 'r="$1"; shift',
              'mount --bind /dev "$r/dev"',
              'mount -t proc proc "$r/proc"']
    args = [str(root)]
    for host_path, writable in binds:
        (root / str(host_path).lstrip("/")).mkdir(parents=True, exist_ok=True)
        index = len(args)  # $1 after the root is shifted off
        script.append(f'mount --bind "${{{index}}}" "$r${{{index}}}"')
        if not writable:
            script.append(f'mount -o remount,bind,ro "$r${{{index}}}"')
        args.append(str(host_path))
    script += [f'shift {len(args) - 1}',
               'exec chroot "$r" /bin/sh -c \'cd "$0" && exec "$@"\' "$@"']
    return ["unshare", "--mount", "--propagation", "private", "env", "-i",
            *[f"{k}={v}" for k, v in ENV.items()],
            "sh", "-c", "\n".join(script), "in_chroot", *args, str(cwd or "/"), *cmd]


def in_chroot(root: Path, cmd: list[str], binds=(), cwd: Path | None = None,
              log: Path | None = None) -> str:
    """Run cmd inside the chroot at `root` (see chroot_command); return its output."""
    try:
        return run(chroot_command(root, cmd, binds, cwd), log=log)
    except CommandError as error:
        # Name the command, not the mount script around it.
        _, _, outcome = str(error).partition(" failed with ")
        raise CommandError(f"in chroot {root}: {' '.join(cmd)} failed with {outcome}") from None
