"""tests/run_matrix.py: how make check splits the kernels into parallel lanes."""
import importlib.util
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location("run_matrix", Path(__file__).with_name("run_matrix.py"))
run_matrix = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(run_matrix)

DEFAULT = ["5.10", "6.1", "6.12", "7.x", "7.x-bpo", "6.1-debug"]


def test_the_debug_kernel_runs_beside_the_stock_kernels():
    assert run_matrix.split(DEFAULT, 2) == [["6.1-debug"], ["5.10", "6.1", "6.12", "7.x", "7.x-bpo"]]


def test_one_lane_keeps_the_given_order():
    assert run_matrix.split(DEFAULT, 1) == [DEFAULT]


def test_no_empty_lanes():
    assert run_matrix.split(["6.1", "6.1-debug"], 4) == [["6.1-debug"], ["6.1"]]
    assert run_matrix.split(["7.x"], 4) == [["7.x"]]


def test_stock_kernels_spread_over_the_lanes():
    lanes = run_matrix.split(["5.10", "6.1", "6.12", "7.x"], 2)
    assert sorted(map(len, lanes)) == [2, 2]
    assert sorted(sum(lanes, [])) == sorted(["5.10", "6.1", "6.12", "7.x"])


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_lane_count_is_refused(monkeypatch, value):
    monkeypatch.setenv("LANES", value)
    with pytest.raises(SystemExit, match="LANES"):
        run_matrix.lane_count()


def test_the_report_starts_at_the_first_section():
    lane = run_matrix.Lane.__new__(run_matrix.Lane)
    lane.lines = ["tests/test_core.py ...F\n", "=== FAILURES ===\n", "boom\n",
                  "=== 1 failed, 3 passed in 9.00s ===\n"]
    assert lane.report() == lane.lines[1:]


def test_the_whole_suite_unless_arguments_name_tests():
    tests = str(run_matrix.TESTS)
    assert run_matrix.pytest_command([])[-1] == tests
    assert run_matrix.pytest_command(["-k", "oom"])[-2:] == ["oom", tests]
    named = run_matrix.pytest_command([f"{tests}/test_core.py::test_meminfo"])
    assert tests not in named
