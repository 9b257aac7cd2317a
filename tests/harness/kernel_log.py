"""Finding the reports in a kernel log: warnings, bugs, lockdep, KASAN, leaks, lockups.

A report is named by its first line. A "Call Trace" is part of the report
whose header came up to TRACE_REACH lines before it (a WARN, an OOM report
a test expected), and a report of its own otherwise (a bare dump_stack()).
The parsing knows nothing of guests: harness/log_gate.py feeds it.
"""
import re
from dataclasses import dataclass

# Header lines, each the start of a report. Lockdep's headers come after a
# line of '=' and name the problem; KASAN, KFENCE and soft lockups print
# "BUG: ..."; kmemleak logs its count of new leaks after a scan.
REPORT_PATTERNS = (
    r"WARNING:",
    r"BUG:",
    r"Oops",
    r"general protection",
    r"Kernel panic",
    r"kernel BUG at",
    r"possible circular locking dependency",
    r"possible recursive locking",
    r"inconsistent lock state",
    r"possible irq lock inversion",
    r"suspicious RCU usage",
    r"lock held when returning to user space",
    r"bad unlock balance",
    r"held lock freed",
    r"sleeping function called from invalid context",
    r"KASAN",
    r"KFENCE",
    r"UBSAN",
    r"kmemleak: \d+ new suspected memory leaks",
    r"soft lockup",
    r"hung task",
    r"blocked for more than \d+ seconds",
    r"rcu: INFO: .*detected stalls?",
)
REPORT_RE = re.compile("|".join(f"(?:{p})" for p in REPORT_PATTERNS))
TRACE_RE = re.compile(r"Call Trace")
# A WARN's or an OOM report's trace starts within a few dozen lines of its
# header (register dump, module list, memory state); an OOM report's
# Mem-Info comes after the trace, so this is wide enough and no wider.
TRACE_REACH = 80
TIMESTAMP_RE = re.compile(r"^\[\s*(\d+)\.(\d{6})\]")


@dataclass
class Report:
    line: str  # the first line, as the log has it
    index: int  # its line number in the text given
    expected: bool = False


def timestamp(line: str) -> float | None:
    """A printk line's time in seconds since boot, or None for other lines."""
    match = TIMESTAMP_RE.match(line)
    return int(match.group(1)) + int(match.group(2)) / 1e6 if match else None


def find_reports(text: str, expects=()) -> list[Report]:
    """Every report in `text`, in order; `expects` are compiled regexes a test expects.

    A report whose first line matches an expectation is expected. So is a
    Call Trace right after a line matching one (an OOM report's header,
    "invoked oom-killer", matches no report pattern of its own).
    """
    reports: list[Report] = []
    anchor = None  # (line number, expected) of the last header a trace can belong to
    for index, line in enumerate(text.splitlines()):
        wanted = any(regex.search(line) for regex in expects)
        if REPORT_RE.search(line):
            reports.append(Report(line.strip(), index, wanted))
            anchor = (index, wanted)
        elif wanted:
            anchor = (index, True)
        elif TRACE_RE.search(line):
            if anchor is None or index - anchor[0] > TRACE_REACH:
                reports.append(Report(line.strip(), index))
                anchor = (index, False)
    return reports


def missing_expectations(text: str, expects) -> list[str]:
    """The expectations no line of `text` matches."""
    return [regex.pattern for regex in expects
            if not any(regex.search(line) for line in text.splitlines())]


def lines_after(text: str, seconds: float) -> str:
    """The printk lines of a console log stamped later than `seconds`."""
    return "\n".join(line for line in text.splitlines()
                     if (stamp := timestamp(line)) is not None and stamp > seconds)
