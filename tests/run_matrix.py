#!/usr/bin/python3
"""make check: the test matrix, as one pytest session or parallel lanes of kernels.

Usage: tests/run_matrix.py [pytest arguments]   (KERNELS= and LANES= from the environment)

LANES=N runs N pytest sessions side by side (tests/conftest.py), each
with its own KERNELS; the default is one, plain pytest. On this project's
2-core machine two lanes were slower, not faster: a guest's two TCG vCPU
threads already keep both cores busy through its memory work, and the
6.1-debug build competes for the same cores (see README). Two lanes are
for hosts with cores to spare, and they run every test beside another
kernel's suite, which shows whether a test depends on the host's speed.
The lanes share the cache: the harness locks downloads, kernel
extraction, chroots and DKMS per suite, so a lane that needs what the
other is making waits. 6.1-debug costs about as much as the five stock
kernels together, so on two lanes it runs alone in one.

Lines of each lane are printed as they come, prefixed with its name; at the
end each lane's report (failures, stage timings, summary line) is printed
again in one piece, then one line per lane. The exit status is the first
failing lane's, or 0.
"""
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))

from harness.cache import checkout_dir  # noqa: E402
from harness.kernels import KERNELS, default_kernel_names  # noqa: E402

# The slowest tests end the report, beside the stage timings: where the minutes go.
PYTEST = [sys.executable, "-m", "pytest", "--durations=25"]
NO_TESTS_COLLECTED = 5  # pytest's exit status when every test was deselected
# Relative cost of a kernel's whole suite: a stock kernel took 230-300 s warm,
# 6.1-debug 1091 s (KASAN, lockdep and twice the guest memory), plus its
# 20-minute build from an empty cache.
DEBUG_COST, STOCK_COST = 5, 1
# Where a lane's report starts: pytest's first section after the progress lines.
REPORT_SECTIONS = ("= ERRORS =", "= FAILURES =", "= warnings summary =",
                   "= balloon-ext stage timings =", "= short test summary info =")


def cost(name: str) -> int:
    return DEBUG_COST if KERNELS[name].debug_of else STOCK_COST


def split(names: list[str], lanes: int) -> list[list[str]]:
    """The kernels over at most `lanes` lanes, costliest first into the cheapest lane.

    Within a lane the kernels keep the order of `names`; empty lanes are dropped.
    """
    result: list[list[str]] = [[] for _ in range(max(1, lanes))]
    load = [0] * len(result)
    for name in sorted(names, key=lambda n: (-cost(n), names.index(n))):
        cheapest = load.index(min(load))
        result[cheapest].append(name)
        load[cheapest] += cost(name)
    return [sorted(lane, key=names.index) for lane in result if lane]


def lane_count() -> int:
    """LANES, default 1: on 2 cores two lanes measured slower than one (module docstring)."""
    value = os.environ.get("LANES", "")
    if not value:
        return 1
    if not value.isdigit() or int(value) < 1:
        raise SystemExit(f"run_matrix: LANES={value!r}: give a whole number of lanes, 1 or more")
    return int(value)


def pytest_command(pytest_args: list[str]) -> list[str]:
    """pytest with the given arguments, on the whole suite unless they name test files."""
    names_tests = any(not arg.startswith("-") and Path(arg.split("::")[0]).exists()
                      for arg in pytest_args)
    return PYTEST + pytest_args + ([] if names_tests else [str(TESTS)])


class Lane:
    def __init__(self, kernels: list[str], pytest_args: list[str], lock: threading.Lock,
                 first: bool):
        self.kernels = kernels
        self.label = "[" + " ".join(kernels) + "]"
        self.log = checkout_dir("logs") / f"lane-{'-'.join(kernels)}.log"
        self.lines: list[str] = []
        self.print_lock = lock
        env = dict(os.environ, KERNELS=" ".join(kernels), PYTHONUNBUFFERED="1")
        if not first:  # the tests that need no kernel run once, in the first lane
            env["BALLOON_EXT_KERNEL_TESTS_ONLY"] = "1"
        self.start = time.monotonic()
        self.process = subprocess.Popen(
            pytest_command(pytest_args), env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        with open(self.log, "w") as log:
            for line in self.process.stdout:
                self.lines.append(line)
                log.write(line)
                log.flush()
                with self.print_lock:
                    sys.stdout.write(f"{self.label} {line}")
                    sys.stdout.flush()

    def wait(self) -> int:
        self.process.wait()
        self.reader.join()
        self.seconds = time.monotonic() - self.start
        return self.process.returncode

    def report(self) -> list[str]:
        """The lane's output from its first report section on (everything after progress)."""
        for index, line in enumerate(self.lines):
            if any(marker in line for marker in REPORT_SECTIONS):
                return self.lines[index:]
        return self.lines[-1:]


def main(pytest_args: list[str]) -> int:
    names = os.environ.get("KERNELS", "").split()
    if not names:
        names, notes = default_kernel_names()
        for note in notes:
            print(f"run_matrix: {note}")
    unknown = [name for name in names if name not in KERNELS]
    if unknown:
        print(f"run_matrix: KERNELS: unknown {unknown}; known: {sorted(KERNELS)}",
              file=sys.stderr)
        return 2
    lanes = split(names, lane_count())
    if len(lanes) == 1:  # nothing to run beside it: plain pytest, its output as is
        os.environ["KERNELS"] = " ".join(lanes[0])
        return subprocess.call(pytest_command(pytest_args))
    print("run_matrix: lanes " + ", ".join(" ".join(lane) for lane in lanes), flush=True)
    lock = threading.Lock()
    start = time.monotonic()
    running = [Lane(kernels, pytest_args, lock, first=index == 0)
               for index, kernels in enumerate(lanes)]

    def stop(signum, _frame):  # CI's timeout, or ^C: take the lanes (and their guests) down
        for lane in running:
            lane.process.send_signal(signum)
        sys.exit(128 + signum)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    codes = [lane.wait() for lane in running]
    for lane in running:
        print(f"\n======== lane {lane.label}: report (whole output in {lane.log}) ========")
        sys.stdout.writelines(lane.report())
    print()
    for lane, code in zip(running, codes):
        summary = lane.lines[-1].strip("= \n") if lane.lines else "(no output)"
        print(f"run_matrix: lane {lane.label} exit {code} after {lane.seconds:.0f} s: {summary}")
    print(f"run_matrix: {len(running)} lanes in {time.monotonic() - start:.0f} s")
    if pytest_args:  # a selection (-k, a file) may leave a lane nothing to run
        codes = [0 if code == NO_TESTS_COLLECTED else code for code in codes]
    return next((code for code in codes if code), 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
