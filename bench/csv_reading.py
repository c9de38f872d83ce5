"""`ferpipe predict`'s CSV reader (the standard library and numpy: the light install has no Arrow)
against the ingest stage's Arrow reader, side by side on the same file: seconds to turn every row
of the full FER2013 CSV into 48x48 faces, best of `--repeats`, each side in turn.

    python bench/csv_reading.py [--csv ../shared/data/fer2013/fer2013.csv.gz] [--repeats 3]
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import tempfile
import time
from pathlib import Path

REAL = Path(__file__).resolve().parents[2] / "shared/data/fer2013/fer2013.csv.gz"


def light(path: Path) -> int:
    from ferpipe.tools.inputs import Report, face_batches

    return sum(len(batch.faces) for batch in face_batches([path], 256, Report()))


def arrow(path: Path) -> int:
    from ferpipe.ingest.pixels import parse_pixel_strings
    from ferpipe.ingest.readers import read_source

    images, _ = parse_pixel_strings(read_source(path).pixels)
    return len(images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=REAL)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        csv = Path(folder) / "fer2013.csv"  # decompressed first: the readers, not gzip, are measured
        with gzip.open(args.csv) as source, open(csv, "wb") as target:
            shutil.copyfileobj(source, target)
        best: dict[str, float] = {}
        for _ in range(args.repeats):
            for name, read in (("light (predict)", light), ("Arrow (ingest)", arrow)):
                started = time.perf_counter()
                rows = read(csv)
                best[name] = min(best.get(name, float("inf")), time.perf_counter() - started)
    for name, seconds in best.items():
        print(f"{name:<16} {seconds:6.2f} s  {rows / seconds:8.0f} faces/s")
    print(f"light / Arrow time: {best['light (predict)'] / best['Arrow (ingest)']:.2f}x ({rows} faces)")


if __name__ == "__main__":
    main()
