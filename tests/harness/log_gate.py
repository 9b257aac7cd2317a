"""The kernel log gate: after each test, the kernel log of every guest it used.

tests/conftest.py runs check() around every test. A report (harness/
kernel_log.py) fails the test that was running when the guest logged it,
unless the test declared it with @pytest.mark.kernel_log_expects(regex, ...);
an expectation that no line matches fails the test too, so a test cannot
expect a report it no longer causes.
"""
import re

from . import kernel_log
from .vm import VMS, VM

LOST = "@@kmsg-lost@@"  # tests/guest/kmsg-since: records overwritten before read
SHOWN_AFTER = 12  # log lines shown after each report's first one
SHOWN_BEFORE = 5  # a bare trace: who dumped it (CPU, taint, hardware lines come first)


def usage() -> dict[int, int]:
    """How many commands each guest has run so far; check() compares against it."""
    return {id(vm): vm.uses for vm in VMS}


def used_since(before: dict[int, int]) -> list[VM]:
    """Guests booted, or sent a command or QMP call, since `before` was taken."""
    return [vm for vm in VMS
            if before.get(id(vm)) != vm.uses and vm.log_seen_until != float("inf")]


def check(before: dict[int, int], expects: list[str]) -> list[str]:
    """Problems in the kernel logs of the guests used since `before`: one message each."""
    regexes = [re.compile(pattern) for pattern in expects]
    problems, logs = [], []
    for vm in used_since(before):
        text = vm.take_kernel_log()
        logs.append(text)
        if LOST in text:
            problems.append(f"{vm.name}: kernel log records were lost before the gate read "
                            f"them (log_buf_len too small): the check is incomplete")
        lines = text.splitlines()
        for report in _in_time_order(kernel_log.find_reports(text, regexes)):
            if not report.expected:
                excerpt = lines[max(0, report.index - SHOWN_BEFORE):report.index + SHOWN_AFTER]
                problems.append(f"{vm.name}: kernel log: {report.line}\n  "
                                + "\n  ".join(excerpt)
                                + f"\n(console log: {vm.console_log_path})")
    for pattern in kernel_log.missing_expectations("\n".join(logs), regexes):
        problems.append(f"expected in a kernel log, and not there: {pattern!r}")
    return problems


def _in_time_order(reports: list[kernel_log.Report]) -> list[kernel_log.Report]:
    """Earliest first, each once: a dead guest's console has the panic's own
    lines, then the same records again in the replay of the whole log.

    Each report is taken where it last appears, the replay, which has the
    log's own order: a BUG and the panic it causes can carry the same
    timestamp, and the panic line printed before the replay must not then
    come first.
    """
    unique = {report.line: report for report in reports}
    return sorted(unique.values(),
                  key=lambda report: (kernel_log.timestamp(report.line) or 0.0, report.index))
