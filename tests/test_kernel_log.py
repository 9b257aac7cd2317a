"""The kernel log parser (harness/kernel_log.py) on logs shaped like real ones; no guest."""
import re

import pytest

from harness import log_gate
from harness.kernel_log import find_reports, lines_after, missing_expectations, timestamp

WARN_6_1 = """\
[   12.345678] log_gate_test: loading out-of-tree module taints kernel.
[   12.346000] ------------[ cut here ]------------
[   12.346100] log_gate_test: a warning on request
[   12.346200] WARNING: CPU: 1 PID: 231 at tests/modules/log_gate_test.c:29 log_gate_test_init+0x2a/0x1000 [log_gate_test]
[   12.346300] Modules linked in: log_gate_test(OE+) virtio_pci
[   12.346400] CPU: 1 PID: 231 Comm: insmod Tainted: G           OE      6.1.0-57-amd64 #1  Debian 6.1.158-1
[   12.346500] RIP: 0010:log_gate_test_init+0x2a/0x1000 [log_gate_test]
[   12.346600] Call Trace:
[   12.346700]  <TASK>
[   12.346800]  do_one_initcall+0x56/0x220
[   12.346900]  </TASK>
[   12.347000] ---[ end trace 0000000000000000 ]---
"""

WARN_7 = """\
[    8.100000] WARNING: tests/modules/log_gate_test.c:29 at log_gate_test_init+0x2a/0x1000 [log_gate_test], CPU#1: insmod/110
[    8.100100] Call Trace:
[    8.100200]  <TASK>
"""

LOCKDEP = """\
[   21.000000] ======================================================
[   21.000001] WARNING: possible circular locking dependency detected
[   21.000002] 6.1.192-debug #1 Tainted: G           OE
[   21.000003] ------------------------------------------------------
[   21.000004] kswapd0/52 is trying to acquire lock:
"""

OOM = """\
[   40.000000] hog invoked oom-killer: gfp_mask=0x140dca(GFP_HIGHUSER_MOVABLE|__GFP_COMP|__GFP_ZERO), order=0, oom_score_adj=0
[   40.000100] CPU: 0 PID: 300 Comm: hog Not tainted 6.1.0-57-amd64 #1  Debian 6.1.158-1
[   40.000200] Call Trace:
[   40.000300]  <TASK>
[   40.000400]  dump_stack_lvl+0x44/0x5c
[   40.000500] Mem-Info:
[   40.000600] Out of memory: Killed process 300 (hog) total-vm:4198400kB
"""

BARE_STACK = """\
[   50.000000] log_gate_test: a stack dump on request
[   50.000100] CPU: 1 PID: 400 Comm: insmod Tainted: G           OE      6.1.0-57-amd64 #1
[   50.000200] Call Trace:
[   50.000300]  <TASK>
"""

QUIET = """\
[    1.000000] virtio_balloon_ext virtio0: out of memory: got 0 of 1024 pages this round, will retry
[    1.100000] kasan: KernelAddressSanitizer initialized
[    1.200000] kfence: initialized - using 2097152 bytes for 255 objects
[    1.300000] balloon_core: loaded
"""

OTHERS = {
    "scheduling while atomic": "[ 3.000000] BUG: scheduling while atomic: insmod/231/0x00000201",
    "atomic sleep": "[ 3.000000] BUG: sleeping function called from invalid context at kernel/time/timer.c:2059",
    "KASAN": "[ 3.000000] BUG: KASAN: slab-out-of-bounds in vbe_fill+0x120/0x300 [virtio_balloon_ext]",
    "KFENCE": "[ 3.000000] BUG: KFENCE: use-after-free read in vbe_leak+0x40/0x200",
    "kmemleak": "[ 3.000000] kmemleak: 2 new suspected memory leaks (see /sys/kernel/debug/kmemleak)",
    "soft lockup": "[ 3.000000] watchdog: BUG: soft lockup - CPU#0 stuck for 123s! [kworker/0:1:12]",
    "hung task": "[ 3.000000] INFO: task kworker/1:2:80 blocked for more than 120 seconds.",
    "gpf": "[ 3.000000] general protection fault, probably for non-canonical address 0xdead000000000100",
    "oops": "[ 3.000000] Oops: 0000 [#1] PREEMPT SMP NOPTI",
    "inconsistent": "[ 3.000000] WARNING: inconsistent lock state",
    "rcu stall": "[ 3.000000] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:",
    "panic": "[ 3.000000] Kernel panic - not syncing: panic_on_warn set ...",
}


def test_a_warning_is_one_report_named_by_its_first_line():
    reports = find_reports(WARN_6_1)
    assert [r.line for r in reports] == [WARN_6_1.splitlines()[3].strip()]
    assert not reports[0].expected


def test_the_newer_warning_format_is_caught():
    assert [r.line for r in find_reports(WARN_7)] == [WARN_7.splitlines()[0].strip()]


def test_lockdep_report():
    assert "possible circular locking dependency" in find_reports(LOCKDEP)[0].line


@pytest.mark.parametrize("name", sorted(OTHERS))
def test_each_kind_of_report_is_caught(name):
    assert [r.line for r in find_reports(OTHERS[name])] == [OTHERS[name]]


def test_quiet_log_has_no_report():
    assert find_reports(QUIET) == []


def test_a_bare_call_trace_is_a_report():
    reports = find_reports(BARE_STACK)
    assert [r.line for r in reports] == ["[   50.000200] Call Trace:"]


def test_an_oom_report_is_one_only_unless_expected():
    assert [r.line for r in find_reports(OOM)] == ["[   40.000200] Call Trace:"]
    assert find_reports(OOM, [re.compile("invoked oom-killer")]) == []


def test_an_expected_warning_is_marked_and_others_are_not():
    reports = find_reports(WARN_6_1 + OTHERS["KASAN"], [re.compile(r"WARNING:.*log_gate_test")])
    assert [r.expected for r in reports] == [True, False]


def test_a_trace_far_below_an_expected_header_is_its_own():
    filler = "".join(f"[   41.{i:06d}] Node 0 DMA: some free lists\n" for i in range(100))
    text = OOM.splitlines()[0] + "\n" + filler + BARE_STACK
    reports = find_reports(text, [re.compile("invoked oom-killer")])
    assert [r.line for r in reports] == ["[   50.000200] Call Trace:"]


def test_missing_expectations_are_named():
    expects = [re.compile("invoked oom-killer"), re.compile("Kernel panic")]
    assert missing_expectations(OOM, expects) == ["Kernel panic"]


def test_a_dead_guests_console_is_read_from_after_the_last_record_seen():
    console = "shell output [not a record]\n" + QUIET + WARN_7
    assert lines_after(console, 1.25).splitlines() == \
        QUIET.splitlines()[3:] + WARN_7.splitlines()
    assert timestamp("[ 5.000001] x") == pytest.approx(5.000001)
    assert timestamp("no stamp") is None


def test_the_gate_names_the_bug_before_the_panic_it_caused():
    """7.x stamped both with one time; the panic line came first on the console, then the replay."""
    console = "\n".join([
        "[    6.921347] Kernel panic - not syncing: scheduling while atomic: panic_on_warn set ...",
        "[    0.000000] Linux version 7.2.13+deb14-amd64",
        "[    6.921347] BUG: scheduling while atomic: insmod/110/0x00000201",
        "[    6.921347] Kernel panic - not syncing: scheduling while atomic: panic_on_warn set ...",
    ])
    ordered = log_gate._in_time_order(find_reports(console))
    assert [report.line.split("] ", 1)[1][:20] for report in ordered] == [
        "BUG: scheduling whil", "Kernel panic - not s"]
