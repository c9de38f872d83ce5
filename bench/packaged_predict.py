"""Predicting one photo with the packaged model, against the same network as a
Keras file, side by side: wall seconds from the command's start and the process's peak memory.

Each side is a fresh `ferpipe predict` process, run `--runs` times in turn (packaged, Keras,
packaged, ...), timed by this script and measured by the kernel (the child's own peak RSS, from
wait4). The photo is a real FER2013 face scaled up on a 640x480 canvas, so the face detector runs
as it does on a person's picture; the package's size is what `ferpipe ship` added.

    python bench/packaged_predict.py --keras <run>/models/model.keras [--runs 5]
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REAL = Path(__file__).resolve().parents[2] / "shared/data/fer2013/fer2013.csv.gz"


def photo(path: Path, source: Path) -> Path:
    with gzip.open(source, "rt") as stream:
        stream.readline()
        pixels = stream.readline().split(",")[1]
    face = Image.fromarray(np.array(pixels.split(), dtype=np.uint8).reshape(48, 48)).resize(
        (192, 192), Image.Resampling.BICUBIC
    )
    canvas = np.full((480, 640), 120, np.uint8)
    canvas[100:292, 200:392] = np.asarray(face)
    Image.fromarray(canvas).save(path, quality=95)
    return path


def measured(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident MB of one run of `command`."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keras", required=True, help="the same network as a .keras file (the baseline)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--data", type=Path, default=REAL)
    args = parser.parse_args()

    from ferpipe import packaged

    ferpipe = str(Path(sys.executable).parent / "ferpipe")
    with tempfile.TemporaryDirectory() as folder:
        picture = str(photo(Path(folder) / "photo.jpg", args.data))
        sides = {
            "packaged (LiteRT, calibrated)": [ferpipe, "predict", picture],
            "Keras file": [ferpipe, "predict", args.keras, picture],
        }
        results: dict[str, list[tuple[float, float]]] = {side: [] for side in sides}
        for _ in range(args.runs):
            for side, command in sides.items():
                results[side].append(measured(command))
    size = sum(f.stat().st_size for f in packaged.packaged().folder.iterdir()) / 1e6
    print(f"{'side':<32} {'median s':>9} {'max s':>7} {'peak MB':>8}")
    for side, runs in results.items():
        print(
            f"{side:<32} {statistics.median(s for s, _ in runs):>9.2f} {max(s for s, _ in runs):>7.2f} "
            f"{max(m for _, m in runs):>8.0f}"
        )
    packaged_s, keras_s = (statistics.median(s for s, _ in runs) for runs in results.values())
    print(
        f"packaged / Keras wall time: {packaged_s / keras_s:.2f}x; the packaged model adds {size:.2f} MB to the package"
    )


if __name__ == "__main__":
    main()
