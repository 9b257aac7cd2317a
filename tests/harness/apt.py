"""A private apt configuration per Debian suite, leaving the system's apt untouched.

The mirror URLs come from the host's own sources at run time, so no mirror
name is written in this project.
"""
import fcntl
import re
import time
from contextlib import contextmanager
from pathlib import Path

from .cache import cache_dir
from .commands import CommandError, run

HOST_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
LISTS_MAX_AGE = 12 * 3600

# The private apt configs, by name: the suites each one reads.
CONFIGS = {
    "bullseye": ("bullseye", "bullseye-updates", "bullseye-security"),
    "bookworm": ("bookworm", "bookworm-updates", "bookworm-security"),
    "trixie": ("trixie", "trixie-updates", "trixie-security"),
    "trixie-backports": ("trixie-backports",),
    "sid": ("sid",),
}
# sid's Release has a Valid-Until that a cached list outlives.
NO_VALID_UNTIL = ("sid",)


def host_mirrors() -> dict[str, str]:
    """{"archive": URL, "security": URL} from the deb822 stanzas of the host's sources."""
    mirrors = {}
    for stanza in re.split(r"\n\s*\n", HOST_SOURCES.read_text()):
        fields = dict(re.findall(r"^([\w-]+):\s*(.*)$", stanza, re.MULTILINE))
        if "URIs" not in fields:
            continue
        kind = "security" if "-security" in fields.get("Suites", "") else "archive"
        mirrors.setdefault(kind, fields["URIs"].split()[0])
    missing = {"archive", "security"} - mirrors.keys()
    if missing:
        raise RuntimeError(f"no {' or '.join(sorted(missing))} mirror in {HOST_SOURCES}")
    return mirrors


class PrivateApt:
    """apt-get/apt-cache bound to one set of suites, with state kept in the cache."""

    def __init__(self, name: str, suites: tuple[str, ...], check_valid_until: bool = True,
                 sources: bool = False):
        self.name = name
        self.suites = suites
        self.sources = sources  # deb-src lines too, for apt-get source
        self.root = cache_dir("apt", name)
        self.debs = cache_dir("apt", name, "debs")
        for sub in ("lists/partial", "cache/archives/partial"):
            cache_dir("apt", name, sub)
        self._write_sources()
        self.options = [
            f"Dir::Etc::SourceList={self.root / 'sources.list'}",
            "Dir::Etc::SourceParts=/dev/null",
            "Dir::Etc::Preferences=/dev/null",
            "Dir::Etc::PreferencesParts=/dev/null",
            f"Dir::State::Lists={self.root / 'lists'}",
            f"Dir::Cache={self.root / 'cache'}",
            # The host config blanks these (docker-clean); a file makes apt-cache fast.
            "Dir::Cache::pkgcache=pkgcache.bin",
            "Dir::Cache::srcpkgcache=srcpkgcache.bin",
            "Dir::State::status=/dev/null",
            "Acquire::Languages=none",
            # We run as root and write into our own cache; no _apt sandbox needed.
            "APT::Sandbox::User=root",
        ]
        if not check_valid_until:
            self.options.append("Acquire::Check-Valid-Until=false")

    def _write_sources(self):
        mirrors = host_mirrors()
        kinds = ("deb", "deb-src") if self.sources else ("deb",)
        lines = [f"{kind} [signed-by={KEYRING}] "
                 f"{mirrors['security' if suite.endswith('-security') else 'archive']} {suite} main"
                 for suite in self.suites for kind in kinds]
        path = self.root / "sources.list"
        text = "\n".join(lines) + "\n"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            (self.root / "updated").unlink(missing_ok=True)

    def _cmd(self, tool: str, *args: str) -> list[str]:
        cmd = [tool]
        for option in self.options:
            cmd += ["-o", option]
        return cmd + list(args)

    @contextmanager
    def _locked(self):
        """Parallel runs (test lanes, a chroot build, two checkouts) share lists and debs."""
        with open(self.root / "harness.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def update(self):
        """apt-get update, skipped while the lists are younger than 12 hours."""
        stamp = self.root / "updated"
        with self._locked():
            if stamp.exists() and time.time() - stamp.stat().st_mtime < LISTS_MAX_AGE:
                return
            run(self._cmd("apt-get", "-q", "update"), log=self.root / "update.log")
            stamp.touch()

    def show(self, package: str, version: str | None = None) -> dict[str, str]:
        """Fields of the candidate (or the given version) of a binary package."""
        spec = f"{package}={version}" if version else package
        text = run(self._cmd("apt-cache", "show", "--no-all-versions", spec))
        record = text.split("\n\n")[0]
        return dict(re.findall(r"^([\w-]+): (.*)$", record, re.MULTILINE))

    def has(self, package: str, version: str) -> bool:
        """Whether the archive has package=version."""
        try:
            self.show(package, version)
        except CommandError:
            return False
        return True

    def download(self, package: str, version: str) -> Path:
        """The .deb of package=version, downloaded once into the cache."""
        arch = self.show(package, version)["Architecture"]
        deb = self.debs / f"{package}_{version.replace(':', '%3a')}_{arch}.deb"
        with self._locked():
            if not deb.exists():
                run(self._cmd("apt-get", "-q", "download", f"{package}={version}"),
                    cwd=self.debs)
        return deb

    def source(self, package: str, version: str, dest: Path):
        """Download source package=version's files (.dsc, tarballs) into dest, unpacked not."""
        if not self.sources:
            raise RuntimeError(f"apt config {self.name} has no deb-src lines")
        with self._locked():
            run(self._cmd("apt-get", "-q", "source", "--download-only", f"{package}={version}"),
                cwd=dest, log=dest / "apt-source.log")


def private_apt(name: str, sources: bool = False) -> "PrivateApt":
    """The private apt config `name` (a key of CONFIGS); with `sources`, a separate one
    (state under "<name>-src") that also reads the suites' source packages."""
    return PrivateApt(f"{name}-src" if sources else name, CONFIGS[name],
                      check_valid_until=name not in NO_VALID_UNTIL, sources=sources)
