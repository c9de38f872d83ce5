"""The light install against the full one, side by side: what `pip install ferpipe` and `make setup`
(the pinned pipeline stack) cost, and how fast `ferpipe predict photo.jpg` starts in each.

Each install goes into a fresh virtual environment from the same wheel, built here: the light one
with its own dependencies from the index, the full one with requirements.lock then the wheel
(`--no-deps`), as `make setup` does. Measured: wall seconds of the install (pip's download cache
as it is on this machine: say so when you quote it), the environment's size and package count, and
a cold `ferpipe predict` of a real photo (matplotlib's sample portrait of Grace Hopper) run
`--runs` times in turn in each: wall seconds from the command's start and the process's peak
memory (the kernel's, from wait4).

    python bench/install.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from packaged_predict import measured  # noqa: E402  (the same timing as the packaged-model bench)

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Install:
    venv: Path
    seconds: float
    megabytes: float
    packages: int


# Each environment sees only what was installed into it, not a checkout's sources.
CLEAN = {name: value for name, value in os.environ.items() if name not in ("PYTHONPATH", "VIRTUAL_ENV")}


def timed(*command: str | Path) -> float:
    started = time.perf_counter()
    subprocess.run([str(c) for c in command], check=True, capture_output=True, env=CLEAN)
    return time.perf_counter() - started


def megabytes(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    import matplotlib.cbook

    photo = str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", folder, REPO], check=True)
        (wheel,) = folder.glob("ferpipe-*.whl")
        base = getattr(sys, "_base_executable", sys.executable)
        installs: dict[str, list[list[str | Path]]] = {
            "light: pip install ferpipe": [["-m", "pip", "install", "-q", wheel]],
            "full: requirements.lock + wheel": [
                ["-m", "pip", "install", "-q", "-r", REPO / "requirements.lock"],
                ["-m", "pip", "install", "-q", "--no-deps", wheel],
            ],
        }
        rows: dict[str, Install] = {}
        for side, steps in installs.items():
            venv = folder / side.split(":")[0]
            subprocess.run([base, "-m", "venv", venv], check=True)
            seconds = sum((timed(venv / "bin/python", *step) for step in steps), 0.0)
            listed = subprocess.run(
                [venv / "bin/python", "-m", "pip", "list", "--format", "json"], check=True, capture_output=True
            )
            rows[side] = Install(venv, seconds, megabytes(venv), len(json.loads(listed.stdout)))
        runs: dict[str, list[tuple[float, float]]] = {side: [] for side in rows}
        for _ in range(args.runs):
            for side, row in rows.items():
                runs[side].append(measured([str(row.venv / "bin/ferpipe"), "predict", photo]))
    print(f"{'install':<34} {'install s':>9} {'MB':>6} {'packages':>8} {'predict s':>9} {'peak MB':>8}")
    for side, row in rows.items():
        predict_s = statistics.median(s for s, _ in runs[side])
        peak = max(m for _, m in runs[side])
        print(f"{side:<34} {row.seconds:>9.0f} {row.megabytes:>6.0f} {row.packages:>8} {predict_s:>9.2f} {peak:>8.0f}")
    (light, full), (light_runs, full_runs) = rows.values(), runs.values()
    cold = statistics.median(s for s, _ in light_runs) / statistics.median(s for s, _ in full_runs)
    print(
        f"light / full: size {light.megabytes / full.megabytes:.2f}x, "
        f"install time {light.seconds / full.seconds:.2f}x, cold predict {cold:.2f}x"
    )


if __name__ == "__main__":
    main()
