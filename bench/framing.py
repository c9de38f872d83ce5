"""How FER2013 frames a face, measured with the detector that finds faces in people's photos:
BlazeFace run on Training faces (each scaled up 4x and set in a larger canvas, its border repeated
outward so that no edge is drawn), its box compared with the 48x48 frame. The medians are the
framing `ferpipe.detect.align` crops with: the frame's side in box widths, and how far the frame's
centre lies from the box's, in box widths. Training faces only: the test splits stay unread.

    python bench/framing.py [--faces 3000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from alignment import REAL, usage_faces  # noqa: E402  (the same FER2013 reader)

SCALE, CANVAS = 4, 384


def training_faces(source: Path, count: int, seed: int = 0) -> np.ndarray:
    faces, _ = usage_faces(source, "Training")
    return faces[np.random.default_rng(seed).choice(len(faces), size=min(count, len(faces)), replace=False)]


def main() -> None:
    import cv2

    from ferpipe.detect.blazeface import BlazeFace

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=3000)
    parser.add_argument("--data", type=Path, default=REAL)
    args = parser.parse_args()
    detector = BlazeFace(min_score=0.5, min_size=1)
    side, border = 48 * SCALE, (CANVAS - 48 * SCALE) // 2
    widths, dx, dy, tilts = [], [], [], []
    faces = training_faces(args.data, args.faces)
    for face in faces:
        big = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
        canvas = cv2.copyMakeBorder(big, border, border, border, border, cv2.BORDER_REPLICATE)
        found = detector(canvas)
        if len(found) != 1:
            continue
        (x, y, w, h), eyes = found[0].box, found[0].eyes
        widths.append(w / side)
        dx.append((border + side / 2 - (x + w / 2)) / w)
        dy.append((border + side / 2 - (y + h / 2)) / w)
        if eyes:
            tilts.append(np.degrees(np.arctan2(eyes[1][1] - eyes[0][1], eyes[1][0] - eyes[0][0])))
    q = lambda values: np.percentile(values, [25, 50, 75])  # noqa: E731
    print(f"{len(widths)} of {len(faces)} Training faces found once ({len(widths) / len(faces):.1%})")
    print(f"box width / frame side: quartiles {np.round(q(widths), 3)}")
    print(f"frame side / box width (FRAME_SIDE): {1 / np.median(widths):.3f}")
    print(
        f"frame centre - box centre, in box widths: x {np.round(q(dx), 3)}, y {np.round(q(dy), 3)} (FRAME_SHIFT: {np.median(dy):.3f})"
    )
    print(f"eye line tilt in degrees: quartiles {np.round(q(tilts), 1)}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
