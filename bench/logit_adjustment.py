"""Post-hoc logit adjustment, temperature's sibling, measured before it is adopted: does moving the
packaged FER2013 model's decision towards the rare classes raise macro-F1 on faces it was not fitted on?

Two adjustments of the log-probabilities, each fitted to maximise macro-F1 on one random half of
PublicTest and scored on the other half (cross-fitting: PrivateTest is not read), over `--splits`
random halvings, beside the unadjusted model on the same held-out halves (the baseline):
- `prior`: log p - tau x log(training class frequency), one tau on a grid (Menon et al., 2021);
- `bias`: log p + b, one b per class, by coordinate ascent on a grid (7 numbers, so it can overfit).

    python bench/logit_adjustment.py [--data ../shared/data/fer2013/fer2013.csv.gz] [--splits 20]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from alignment import REAL, usage_faces  # noqa: E402  (the same FER2013 reader)

TAUS = np.round(np.arange(0.0, 1.51, 0.1), 2)
BIASES = np.round(np.arange(-1.0, 1.01, 0.1), 2)


def macro_f1(labels: np.ndarray, scores: np.ndarray) -> float:
    return float(f1_score(labels, scores.argmax(axis=1), average="macro", labels=range(scores.shape[1])))


def fit_prior(log_p: np.ndarray, labels: np.ndarray, log_prior: np.ndarray) -> np.ndarray:
    """The offset -tau x log prior whose tau gives the best macro-F1 (the smallest tau on ties)."""
    scores = [macro_f1(labels, log_p - tau * log_prior) for tau in TAUS]
    return -TAUS[int(np.argmax(scores))] * log_prior


def fit_bias(log_p: np.ndarray, labels: np.ndarray, rounds: int = 3) -> np.ndarray:
    """One offset per class, each in turn set to the grid value with the best macro-F1."""
    bias = np.zeros(log_p.shape[1])
    for _ in range(rounds):
        for k in range(len(bias)):
            trials = [macro_f1(labels, log_p + np.where(np.arange(len(bias)) == k, b, bias)) for b in BIASES]
            bias[k] = BIASES[int(np.argmax(trials))]
    return bias


def main() -> None:
    from ferpipe import packaged
    from ferpipe.core.inference import class_probabilities

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REAL)
    parser.add_argument("--splits", type=int, default=20)
    args = parser.parse_args()
    train_labels = usage_faces(args.data, "Training")[1]
    faces, labels = usage_faces(args.data, "PublicTest")
    log_prior = np.log(np.bincount(train_labels, minlength=7) / len(train_labels))
    model = packaged.packaged("fer2013")
    log_p = np.log(np.clip(class_probabilities(model.network(), faces[..., None].astype(np.float32), 64), 1e-12, 1))
    rows: dict[str, list[tuple[float, float]]] = {"none": [], "prior": [], "bias": []}
    for seed in range(args.splits):
        order = np.random.default_rng(seed).permutation(len(labels))
        fit, held = order[: len(order) // 2], order[len(order) // 2 :]
        offsets = {
            "none": np.zeros(7),
            "prior": fit_prior(log_p[fit], labels[fit], log_prior),
            "bias": fit_bias(log_p[fit], labels[fit]),
        }
        for name, offset in offsets.items():
            scores = log_p[held] + offset
            rows[name].append((macro_f1(labels[held], scores), accuracy_score(labels[held], scores.argmax(axis=1))))
    print(f"the packaged {model.metadata['registered']}; {args.splits} halvings of PublicTest ({len(labels)} faces)")
    print("| adjustment | held-out macro-F1 | change | held-out accuracy | change |")
    print("|---|---:|---:|---:|---:|")
    base = np.array(rows["none"])
    for name, figures in rows.items():
        f = np.array(figures)
        print(
            f"| {name} | {f[:, 0].mean():.4f} ± {f[:, 0].std():.4f} | {(f - base)[:, 0].mean():+.4f}"
            f" | {f[:, 1].mean():.4f} ± {f[:, 1].std():.4f} | {(f - base)[:, 1].mean():+.4f} |"
        )


if __name__ == "__main__":
    main()
