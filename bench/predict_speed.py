"""`ferpipe predict` on a large CSV against bare `model.predict` on the same faces.

One model file (vgg_small by default, freshly initialised: throughput does not depend on the
weights) and one CSV (the full FER2013 when it is beside the repository, else the embedded
synthetic one). Each side runs in its own process, one after the other, in the same run:

- bare: the faces parsed into one array first (not timed), then `model.predict(x)` at the same
  batch size as `ferpipe predict`'s (`--batch-size`, default its own);
- start-up: `ferpipe predict model.keras face.png`, one face: imports, model load, one batch;
- predict: `ferpipe predict model.keras faces.csv -o out.csv`, the whole file;
- the same two with `model.tflite`, the network's LiteRT export as the train stage writes it.

Throughput after start-up is faces / (predict wall time - start-up wall time); peak memory is
each process's maximum resident set (wait4's rusage); the start-up run's peak is what loading
TensorFlow and the model costs before any input is read.

    python bench/predict_speed.py [--csv ../shared/data/fer2013/fer2013.csv.gz] [--arch vgg_small]
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ferpipe.core.inference import BATCH_SIZE

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared/data/fer2013/fer2013.csv.gz"
SYNTHETIC = ROOT / "data/synthetic/fer2013.csv"
FERPIPE = Path(sys.executable).with_name("ferpipe")


def bare(model_path: str, csv_path: str, batch_size: int) -> None:
    """Child: parse every face into memory, then time one `model.predict` over them."""
    import keras

    from ferpipe.ingest.pixels import parse_pixel_strings
    from ferpipe.ingest.readers import read_source

    images, _ = parse_pixel_strings(read_source(csv_path).pixels)
    x = images.reshape(-1, 48, 48, 1)
    model = keras.saving.load_model(model_path)
    started = time.perf_counter()
    model.predict(x, batch_size=batch_size, verbose=0)
    print(len(x), time.perf_counter() - started)


def timed(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak resident MB and stdout of one child process."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert child.stdout is not None  # piped above
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) not in (0, 3):
        raise SystemExit(f"{' '.join(command)} failed")
    return seconds, usage.ru_maxrss / 1024, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", type=Path, default=REAL if REAL.exists() else SYNTHETIC)
    parser.add_argument("--arch", default="vgg_small")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        csv_path = folder / "faces.csv"
        opener = gzip.open if args.csv.suffix == ".gz" else open
        with opener(args.csv, "rb") as source, open(csv_path, "wb") as target:
            shutil.copyfileobj(source, target, 1 << 22)
        model_path, face = folder / "model.keras", folder / "face.png"
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys, numpy as np; from PIL import Image; "
                "from ferpipe.models import build_model; model = build_model(sys.argv[1]); "
                "model.save(sys.argv[2] + '.keras'); model.export(sys.argv[2] + '.tflite', format='litert'); "
                "Image.fromarray(np.zeros((48, 48), np.uint8)).save(sys.argv[3])",
                args.arch,
                str(model_path.with_suffix("")),
                str(face),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        _, bare_mb, out = timed(
            [sys.executable, __file__, "--bare", str(model_path), str(csv_path), str(args.batch_size)]
        )
        faces, bare_seconds = int(out.split()[0]), float(out.split()[1])
        sides = {
            suffix: ferpipe_predict(model_path.with_suffix(suffix), face, csv_path, args.batch_size)
            for suffix in (".keras", ".tflite")
        }

    bare_rate = faces / bare_seconds
    print(
        f"# {time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{args.arch}, batch {args.batch_size}, {args.csv.name}: {faces} faces"
    )
    print("| side | faces/s | wall s | peak MB |\n|---|---:|---:|---:|")
    print(
        f"| bare `model.predict` (arrays in memory) | {bare_rate:.0f} | {bare_seconds:.1f} (predict only) | {bare_mb:.0f} |"
    )
    for suffix, (startup, startup_mb, wall, predict_mb, rows) in sides.items():
        print(f"| `ferpipe predict model{suffix}` start-up (one face) | | {startup:.1f} | {startup_mb:.0f} |")
        print(
            f"| `ferpipe predict model{suffix}` whole CSV | {rows / (wall - startup):.0f} (after start-up) "
            f"| {wall:.1f} | {predict_mb:.0f} |"
        )
    for suffix, (startup, _, wall, _, rows) in sides.items():
        print(
            f"model{suffix}: predict/bare after start-up {rows / (wall - startup) / bare_rate:.2f}x; "
            f"end to end {rows / wall:.0f} faces/s"
        )


def ferpipe_predict(
    model_path: Path, face: Path, csv_path: Path, batch_size: int
) -> tuple[float, float, float, float, int]:
    """Start-up seconds and peak MB (one face), then wall seconds, peak MB and rows written for the whole CSV."""
    batch = ["--batch-size", str(batch_size)]
    startup, startup_mb, _ = timed([str(FERPIPE), "predict", str(model_path), str(face), *batch])
    out_csv = csv_path.with_name("out.csv")
    wall, predict_mb, _ = timed([str(FERPIPE), "predict", str(model_path), str(csv_path), "-o", str(out_csv), *batch])
    rows = sum(1 for _ in open(out_csv)) - 1
    return startup, startup_mb, wall, predict_mb, rows


if __name__ == "__main__":
    if sys.argv[1:2] == ["--bare"]:
        bare(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
