"""How long `make test-fast` takes (`pytest -m "not slow"`: the edit-test loop), beside pytest
collecting the same tests, its fixed cost (imports and collection), in the same run, in turn.

    python bench/test_speed.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAST = [sys.executable, "-m", "pytest", "-q", "-m", "not slow", "-p", "no:cacheprovider"]


def seconds(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    collected, ran = [], []
    for _ in range(args.runs):
        collected.append(seconds([*FAST, "--collect-only"]))
        ran.append(seconds(FAST))
    collect, fast = statistics.median(collected), statistics.median(ran)
    print(f"| `pytest -m 'not slow' --collect-only` (the baseline) | {collect:.1f} s |")
    print(f"| `make test-fast` (`pytest -m 'not slow'`) | {fast:.1f} s ({fast / collect:.1f}x) |")


if __name__ == "__main__":
    main()
