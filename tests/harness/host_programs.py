"""Host programs for a guest: the binary with every shared library ldd names.

The guest has busybox only. A test that needs a real userspace tool (perf,
trace-cmd) gets the host's own build, at the same paths, with the dynamic
loader and libraries it links, so it runs as on the host.
"""
import re
import subprocess
from pathlib import Path

# "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)"
LDD_PATH = re.compile(r"^\s*(?:\S+ => )?(/\S+) \(0x[0-9a-f]+\)$")


def program_files(program: str) -> dict[str, Path]:
    """{guest path: host path} for `program` (a path) and the libraries it loads."""
    binary = Path(program)
    if not binary.is_file():
        raise FileNotFoundError(f"{program} is not installed on the host "
                                "(scripts/install-deps.sh installs it)")
    out = subprocess.run(["ldd", str(binary)], check=True, capture_output=True,
                         text=True).stdout
    files = {str(binary): binary}
    for line in out.splitlines():
        if match := LDD_PATH.match(line):
            files[match.group(1)] = Path(match.group(1))
        elif "not found" in line:
            raise FileNotFoundError(f"{program}: ldd finds no {line.split()[0]}")
    return files
