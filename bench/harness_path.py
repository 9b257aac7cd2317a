# SPDX-License-Identifier: GPL-2.0
"""Make the test harness (tests/harness, tests/virtio_guest.py) importable from bench/.

The benchmark boots the same guests as the tests, so it reuses their harness
read-only instead of keeping a copy that would drift from it.
"""
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
TESTS = REPO / "tests"

if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))
