"""Wall-clock timing of the slow stages, reported at the end of the pytest run."""
import time
from contextlib import contextmanager

# (stage name, seconds, finished normally) in the order the stages ended.
records: list[tuple[str, float, bool]] = []


@contextmanager
def stage(name: str):
    start = time.monotonic()
    ok = False
    try:
        yield
        ok = True
    finally:
        records.append((name, time.monotonic() - start, ok))


def report_lines() -> list[str]:
    return [f"{seconds:8.1f} s  {name}{'' if ok else '  (failed)'}"
            for name, seconds, ok in records]
