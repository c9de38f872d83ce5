"""Ingest + convert on the full real FER2013 CSV against the seed notebook's loop.

Each side runs in its own child process (so peak memory is that side's alone), on the same
uncompressed CSV, one after the other in one run; the speed-up is the ratio of their times.

    python bench/ingest_speed.py [--source ../shared/data/fer2013/fer2013.csv.gz] [--repeats 2]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"  # the repository's, wherever this runs

DEFAULT_SOURCE = Path(__file__).resolve().parents[2] / "shared/data/fer2013/fer2013.csv.gz"


def seed_baseline(csv_path: Path) -> dict:
    """The seed notebook's method, rewritten here: pandas, then a Python loop per row."""
    import numpy as np
    import pandas as pd

    data = pd.read_csv(csv_path)
    x_train, y_train, x_test, y_test = [], [], [], []
    for emotion, pixels, usage in zip(data["emotion"], data["pixels"], data["Usage"], strict=True):
        values = np.array(pixels.split(" ")).astype(float) / 255
        if usage == "Training":
            x_train.append(values)
            y_train.append(emotion)
        else:
            x_test.append(values)
            y_test.append(emotion)
    train_images = np.array(x_train).reshape(-1, 48, 48, 1)
    test_images = np.array(x_test).reshape(-1, 48, 48, 1)
    return {"train": len(train_images), "test": len(test_images)}


def ferpipe_stages(csv_path: Path) -> dict:
    """Stages ingest and convert, exactly as `dvc repro` runs them (all validation and reports)."""
    from ferpipe.convert.stage import convert
    from ferpipe.core.config import load_config
    from ferpipe.ingest.stage import ingest

    report = ingest(replace(load_config(PARAMS).ingest, source=str(csv_path)))
    manifest = convert()
    return {"rows": report["rows"]["valid"], "train": manifest["splits"]["train"]["count"]}


def child(side: str, csv_path: Path) -> None:
    # Libraries are imported before the clock starts, on both sides: the work is what is timed
    # (the sides' own imports then find them loaded).
    import numpy  # noqa: F401
    import pandas  # noqa: F401

    if side == "ferpipe":
        import matplotlib.pyplot  # noqa: F401  (imported by the report)

        import ferpipe.convert.stage  # noqa: F401
        import ferpipe.ingest.stage  # noqa: F401
    work = tempfile.mkdtemp(prefix="bench-ingest-")
    os.chdir(work)
    started = time.perf_counter()
    result = (seed_baseline if side == "baseline" else ferpipe_stages)(csv_path)
    elapsed = time.perf_counter() - started
    shutil.rmtree(work)
    print(json.dumps({"side": side, "seconds": elapsed, **result}))


def measure(side: str, csv_path: Path) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    done = subprocess.run(
        [sys.executable, __file__, "--child", side, "--csv", str(csv_path)], capture_output=True, text=True, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the max over all children so far; each side is measured in
    # increasing order of expected peak (ours first), so the max is this child's own peak.
    result["peak_mb"] = max(peak_kb, before) / 1024
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", type=Path, default=Path(os.environ.get("FER2013_CSV", DEFAULT_SOURCE)))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child")
    parser.add_argument("--csv", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.csv)
        return
    with tempfile.TemporaryDirectory() as folder:
        csv_path = Path(folder) / "fer2013.csv"
        with gzip.open(args.source, "rb") as stream, open(csv_path, "wb") as out:
            shutil.copyfileobj(stream, out, 1 << 24)
        print(f"source: {args.source} → {csv_path} ({csv_path.stat().st_size / 1e6:.0f} MB)")
        ours = [measure("ferpipe", csv_path) for _ in range(args.repeats)]
        baseline = measure("baseline", csv_path)
    best = min(ours, key=lambda r: r["seconds"])
    times = ", ".join(f"{r['seconds']:.2f}" for r in ours)
    print(
        f"ferpipe ingest+convert: {times} s "
        f"(best {best['seconds']:.2f} s), peak RSS {max(r['peak_mb'] for r in ours):.0f} MB"
    )
    print(f"seed notebook loop:     {baseline['seconds']:.2f} s, peak RSS {baseline['peak_mb']:.0f} MB")
    print(
        f"speed-up: {baseline['seconds'] / best['seconds']:.1f}x (target >= 20x); "
        f"full file in {best['seconds']:.2f} s (target <= 5 s); "
        f"peak {max(r['peak_mb'] for r in ours):.0f} MB (target <= 1536 MB)"
    )


if __name__ == "__main__":
    main()
