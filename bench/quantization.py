"""LiteRT's post-training quantizations of a trained network, side by side with
its float32 export: file size, PrivateTest accuracy (the packaging rule: within 0.3 points of
float32), agreement with float32's classes, the largest probability change, and the time to
score PrivateTest (the fastest of `--repeats` rounds, the options taking turns in each round).

    python bench/quantization.py --keras models/model.keras [--arrays data/arrays] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ferpipe.core.arrays import load_split
from ferpipe.core.lite import LiteModel, Quantization, export

QUANTIZATIONS = [q.value for q in Quantization]


def cpu() -> str:
    flags = {
        f
        for line in Path("/proc/cpuinfo").read_text().splitlines()
        if line.startswith("flags")
        for f in line.split(":", 1)[1].split()
    }
    vector = "AVX-512+AMX" if "amx_tile" in flags else "AVX-512" if "avx512f" in flags else "AVX2"
    return f"{platform.processor() or platform.machine()}, {vector}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keras", type=Path, required=True)
    parser.add_argument("--arrays", type=Path, default=Path("data/arrays"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import keras

    model = keras.models.load_model(args.keras)
    faces, labels = load_split(args.arrays, "test")
    faces = np.asarray(faces)
    with tempfile.TemporaryDirectory() as folder:
        files = {q: export(model, Path(folder) / f"{q}.tflite", q) for q in QUANTIZATIONS}
        networks = {q: LiteModel(path) for q, path in files.items()}
        seconds: dict[str, list[float]] = {q: [] for q in QUANTIZATIONS}
        probabilities = {}
        for _ in range(args.repeats):
            for q, network in networks.items():
                begun = time.perf_counter()
                probabilities[q] = network.predict(faces, batch_size=256)
                seconds[q].append(time.perf_counter() - begun)
        sizes = {q: path.stat().st_size for q, path in files.items()}
    reference = probabilities["none"]
    rows: list[dict[str, Any]] = []
    for q in QUANTIZATIONS:
        accuracy = float(np.mean(probabilities[q].argmax(axis=1) == labels))
        rows.append(
            {
                "quantization": q,
                "bytes": sizes[q],
                "size_ratio": sizes[q] / sizes["none"],
                "test_accuracy": accuracy,
                "points_below_float32": 100 * (float(np.mean(reference.argmax(axis=1) == labels)) - accuracy),
                "same_class_as_float32": float(np.mean(probabilities[q].argmax(axis=1) == reference.argmax(axis=1))),
                "max_probability_change": float(np.abs(probabilities[q] - reference).max()),
                "seconds": min(seconds[q]),
                "speed_ratio": min(seconds["none"]) / min(seconds[q]),
            }
        )
    print(f"{args.keras} on {len(labels):,} PrivateTest faces; CPU {cpu()}")
    print(
        f"{'quantization':14} {'MB':>6} {'size':>6} {'accuracy':>9} {'pts below':>9} {'same class':>10} "
        f"{'max dp':>8} {'s':>6} {'speed':>6}"
    )
    for row in rows:
        print(
            f"{row['quantization']:14} {row['bytes'] / 1e6:6.2f} {row['size_ratio']:6.2f} {row['test_accuracy']:9.4f} "
            f"{row['points_below_float32']:9.2f} {row['same_class_as_float32']:10.4f} "
            f"{row['max_probability_change']:8.4f} {row['seconds']:6.2f} {row['speed_ratio']:5.2f}x"
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
