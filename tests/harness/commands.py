"""Running host commands with errors that show what went wrong."""
import subprocess
from pathlib import Path


class CommandError(RuntimeError):
    pass


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def run(cmd: list, cwd=None, log: Path | None = None) -> str:
    """Run cmd, return its stdout; raise with the output tail on failure.

    With `log`, stdout and stderr go to that file (large outputs such as make).
    """
    if log is None:
        proc = subprocess.run(cmd, cwd=cwd, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        output, errors = proc.stdout, proc.stderr
    else:
        with open(log, "w") as out:
            proc = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        output = errors = Path(log).read_text(errors="replace")
    if proc.returncode != 0:
        raise CommandError(f"{' '.join(map(str, cmd))} failed with {proc.returncode}"
                           f"{f' (full log: {log})' if log else ''}:\n{tail(errors)}")
    return output
