"""The packaged FER2013 model under common corruptions of PrivateTest (`ferpipe.tools.corruptions`:
noise, blur, JPEG, brightness, contrast, the eyes covered, downscaling), at three severities each,
beside its accuracy on the clean faces (the baseline, in the same run). The figures go in
BENCHMARKS.md and, through `ferpipe ship`, in the packaged model's card. PrivateTest is read to
report, as evaluate reads it: nothing is chosen on these figures.

    python bench/robustness.py [--data ../shared/data/fer2013/fer2013.csv.gz]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from alignment import REAL, usage_faces  # noqa: E402  (the same FER2013 reader)


def main() -> None:
    from ferpipe import packaged
    from ferpipe.tools.corruptions import markdown, robustness

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REAL)
    args = parser.parse_args()
    faces, labels = usage_faces(args.data, "PrivateTest")
    model, meta = packaged.load("fer2013")
    print(f"the packaged {meta['registered']} on {len(faces)} PrivateTest faces; accuracy (points from clean)")
    print(markdown(robustness(model.predict_on_batch, faces, labels)))


if __name__ == "__main__":
    main()
