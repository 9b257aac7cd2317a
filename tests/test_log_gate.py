"""The kernel log gate catches what a test module makes the kernel log (harness/log_gate.py).

Each test calls the gate itself, on a guest of its own, and checks what
it says; the gate around the test then finds nothing new in that guest.
A WARN and a sleep in atomic context panic the guest (panic_on_warn), so
the gate reads them from the log the panic replays on the console.
"""
import pytest

from harness import log_gate
from harness.vm import QemuExited

MODULE = "/ext/log_gate_test.ko"


@pytest.fixture
def vm(boot):
    return boot("log-gate")


def problems_after(vm, command: str, expects=()) -> list[str]:
    before = log_gate.usage()
    try:
        vm.run(command)
    except QemuExited:
        pass  # the panic under test
    return log_gate.check(before, list(expects))


def test_a_warning_fails_the_test_and_is_named(vm):
    problems = problems_after(vm, f"insmod {MODULE} trigger=warn")
    assert not vm.alive, "panic_on_warn=1 did not panic the guest"
    # The first report named is the warning itself, not the panic it caused.
    assert problems and "WARNING:" in problems[0].splitlines()[0], problems
    assert "log_gate_test" in problems[0], problems


def test_a_sleep_in_atomic_context_fails_the_test(vm):
    problems = problems_after(vm, f"insmod {MODULE} trigger=atomic")
    assert problems, "the gate saw nothing"
    assert "BUG: scheduling while atomic" in problems[0] \
        or "BUG: sleeping function called from invalid context" in problems[0], problems


def test_a_bare_stack_dump_fails_the_test_and_the_guest_lives(vm):
    problems = problems_after(vm, f"insmod {MODULE} trigger=stack")
    assert vm.alive
    vm.check("rmmod log_gate_test")
    assert len(problems) == 1 and "Call Trace" in problems[0], problems
    assert "a stack dump on request" in problems[0], problems  # the lines before it come along


def test_an_expected_report_passes_and_a_missing_one_fails(vm):
    assert problems_after(vm, f"insmod {MODULE} trigger=stack",
                          [r"log_gate_test: a stack dump on request"]) == []
    vm.check("rmmod log_gate_test")
    assert problems_after(vm, "true", [r"log_gate_test: a stack dump on request"]) == [
        "expected in a kernel log, and not there: 'log_gate_test: a stack dump on request'"]


def test_dmesg_c_hides_nothing_from_the_gate(vm):
    problems = problems_after(vm, f"insmod {MODULE} trigger=stack && dmesg -c >/dev/null")
    vm.check("rmmod log_gate_test")
    assert len(problems) == 1 and "Call Trace" in problems[0], problems


def test_a_bad_trigger_is_refused_with_a_log_line(vm):
    rc, _ = vm.run(f"insmod {MODULE} trigger=nonsense")
    assert rc != 0
    assert "log_gate_test: trigger 'nonsense' is none of warn, atomic, stack" in vm.dmesg()
