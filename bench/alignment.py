"""What detection and alignment do to accuracy: PrivateTest faces turned by -20, 0 and +20 degrees and
set in larger scenes, then found and cut by each way `ferpipe predict` can, and classified by the
packaged model; against the crop FER2013 gives (the upper bound: found, framed and upright by
construction). A face not found counts as a wrong answer.

Each scene is 320x320: a smooth random background, the 48x48 face scaled up 3x (cubic), turned about
its centre and pasted at a seeded random place (its corners blended away, no frame drawn). Ways:
`haar + box` (OpenCV's cascade, its box scaled to 48x48), `blazeface + box` (no turning, the box
as it is), `blazeface + aligned` (turned level by the eyes, framed as FER2013 frames its faces).
PrivateTest is read for this measurement of cropping only: nothing is chosen on it.

    python bench/alignment.py [--faces 3589]
"""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

import numpy as np
from PIL import Image

REAL = Path(__file__).resolve().parents[2] / "shared/data/fer2013/fer2013.csv.gz"
SCENE, SCALE = 320, 3
ANGLES = (-20, 0, 20)


def usage_faces(source: Path, usage: str) -> tuple[np.ndarray, np.ndarray]:
    """The (N, 48, 48) faces and labels of one Usage of the FER2013 CSV, in file order."""
    faces, labels = [], []
    with gzip.open(source, "rt") as stream:
        stream.readline()
        for line in stream:
            label, pixels, found = line.rstrip("\n").split(",")
            if found == usage:
                faces.append(np.array(pixels.split(), np.uint8).reshape(48, 48))
                labels.append(int(label))
    return np.array(faces), np.array(labels)


def scene(face: np.ndarray, degrees: float, rng: np.random.Generator) -> np.ndarray:
    import cv2

    background = cv2.resize(
        rng.integers(40, 216, (8, 8), dtype=np.uint8), (SCENE, SCENE), interpolation=cv2.INTER_CUBIC
    )
    big = Image.fromarray(face).resize((48 * SCALE, 48 * SCALE), Image.Resampling.BICUBIC)
    mask = Image.new("L", big.size, 255)
    turned, turned_mask = (im.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True) for im in (big, mask))
    canvas = Image.fromarray(background)
    x, y = (int(v) for v in rng.integers(0, SCENE - turned.width, 2))
    canvas.paste(turned, (x, y), turned_mask)
    return np.asarray(canvas)


def main() -> None:
    from ferpipe import packaged
    from ferpipe.detect import detector
    from ferpipe.detect.align import aligned_crop, box_crop
    from ferpipe.detect.detection import Detection

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=3589)
    parser.add_argument("--data", type=Path, default=REAL)
    args = parser.parse_args()
    faces, labels = (part[: args.faces] for part in usage_faces(args.data, "PrivateTest"))
    model, _ = packaged.load()
    haar, blazeface = detector("haar"), detector("blazeface")

    def answer(crops: list[np.ndarray | None]) -> np.ndarray:
        found = [(i, c) for i, c in enumerate(crops) if c is not None]
        predicted = np.full(len(crops), -1)
        if found:
            answers = model.predict_on_batch(np.stack([c for _, c in found])[..., None])
            predicted[[i for i, _ in found]] = answers.argmax(axis=1)
        return predicted

    def first(found: list[Detection]) -> Detection | None:
        return max(found, key=lambda d: d.box[2] * d.box[3]) if found else None

    print(f"{len(faces)} PrivateTest faces; accuracy (share found)")
    reference = (answer(list(faces)) == labels).mean()
    print(f"{'way':<22}" + "".join(f"{angle:>+16d}°" for angle in ANGLES))
    results: dict[str, list[str]] = {"haar + box": [], "blazeface + box": [], "blazeface + aligned": []}
    for angle in ANGLES:
        rng = np.random.default_rng(angle + 100)
        scenes = [scene(face, angle, rng) for face in faces]
        by_haar = [first(haar(np.repeat(s[..., None], 3, axis=2))) for s in scenes]
        by_blazeface = [first(blazeface(np.repeat(s[..., None], 3, axis=2))) for s in scenes]
        crops = {
            "haar + box": [box_crop(s, d) if d else None for s, d in zip(scenes, by_haar, strict=True)],
            "blazeface + box": [box_crop(s, d) if d else None for s, d in zip(scenes, by_blazeface, strict=True)],
            "blazeface + aligned": [
                aligned_crop(s, d) if d else None for s, d in zip(scenes, by_blazeface, strict=True)
            ],
        }
        for way, cut in crops.items():
            found = np.mean([c is not None for c in cut])
            results[way].append(f"{(answer(cut) == labels).mean():.4f} ({found:.2f})")
    for way, cells in results.items():
        print(f"{way:<22}" + "".join(f"{cell:>17}" for cell in cells))
    print(f"{'the FER2013 crop':<22}{reference:>17.4f} (upright, as given)")


if __name__ == "__main__":
    main()
