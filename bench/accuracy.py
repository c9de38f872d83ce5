"""What test-time augmentation and ensembling add to trained models.

Scores, side by side on the test split (PrivateTest) of converted arrays, with the same
evaluation code as the `evaluate` stage and `ferpipe ensemble`:

- the most frequent training class, every time (the floor);
- each model (`--model`, any reference `ferpipe predict` takes) with each test-time
  augmentation (none, flip, ten_crop);
- the ensemble of the models that greedy selection keeps on PublicTest (with `--ensemble`).

Every row reports PublicTest accuracy (what selection may look at), PrivateTest accuracy with its
95% bootstrap interval, and the figure on the test faces whose exact image is not in training.
The arrays decide the labels: FER2013's, or the FER+ majority for arrays converted in a FER+ mode.

    python bench/accuracy.py --arrays <run>/data/arrays --model <run>/models/model.keras [--model ...]
        [--tta none flip ten_crop] [--ensemble]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ferpipe.core.arrays import ARRAYS, load_split
from ferpipe.core.config import load_config
from ferpipe.core.inference import class_probabilities
from ferpipe.evaluate.metrics import bootstrap_interval
from ferpipe.tools.ensemble import choose_members

PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"  # the repository's, wherever this runs


def scored(name: str, val_correct: np.ndarray, test_correct: np.ndarray, unseen: np.ndarray) -> dict:
    return {
        "predictor": name,
        "val_accuracy": float(val_correct.mean()),
        "test_accuracy": float(test_correct.mean()),
        "test_ci95": bootstrap_interval(test_correct, 1000, 0),
        "test_unseen_in_train_accuracy": float(test_correct[unseen].mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arrays", type=Path, default=ARRAYS)
    parser.add_argument("--model", action="append", default=[], help="a trained model to score (repeatable)")
    parser.add_argument("--tta", nargs="+", default=["none", "flip", "ten_crop"], choices=["none", "flip", "ten_crop"])
    parser.add_argument("--ensemble", action="store_true", help="also score the ensemble chosen on PublicTest")
    args = parser.parse_args()
    if args.ensemble and len(args.model) < 2:
        parser.error("--ensemble needs at least two --model")

    from ferpipe.tools.models import load_model

    manifest = json.loads((args.arrays / "manifest.json").read_text())
    x_val, y_val = load_split(args.arrays, "val")
    x_test, y_test = load_split(args.arrays, "test")
    _, y_train = load_split(args.arrays, "train")
    unseen = ~np.load(args.arrays / "test_seen_in_train.npy")
    names = manifest["label_names"]
    most_frequent = int(np.bincount(y_train, minlength=len(names)).argmax())
    results = [
        scored(
            f"always '{names[most_frequent]}' (most frequent training class)",
            y_val == most_frequent,
            y_test == most_frequent,
            unseen,
        )
    ]

    batch_size = load_config(PARAMS).evaluate.batch_size
    probabilities: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {tta: ([], []) for tta in args.tta}
    for reference in args.model:
        model = load_model(reference)
        for tta in args.tta:
            val, test = (class_probabilities(model, x, batch_size, tta) for x in (x_val, x_test))
            probabilities[tta][0].append(val)
            probabilities[tta][1].append(test)
            results.append(scored(f"{reference}, tta {tta}", val.argmax(1) == y_val, test.argmax(1) == y_test, unseen))
            print(json.dumps(results[-1]), flush=True)
    if args.ensemble:
        for tta, (vals, tests) in probabilities.items():
            chosen = choose_members(vals, y_val)
            val_average, test_average = (np.mean([outputs[i] for i in chosen], axis=0) for outputs in (vals, tests))
            results.append(
                scored(
                    f"ensemble of {len(chosen)} chosen on PublicTest "
                    f"({', '.join(args.model[i] for i in chosen)}), tta {tta}",
                    val_average.argmax(1) == y_val,
                    test_average.argmax(1) == y_test,
                    unseen,
                )
            )

    print(
        json.dumps(
            {
                "labels": manifest.get("labels", "fer2013"),  # arrays converted before FER+ had no such key
                "val_faces": int(len(y_val)),
                "test_faces": int(len(y_test)),
                "test_unseen_in_train": int(unseen.sum()),
                "results": results,
            },
            indent=2,
        )
    )
    print("\n| predictor | PublicTest | PrivateTest (95% CI) | not seen in training |\n|---|---|---|---|")
    for row in results:
        low, high = row["test_ci95"]
        print(
            f"| {row['predictor']} | {row['val_accuracy']:.4f} | {row['test_accuracy']:.4f} ({low:.4f}–{high:.4f}) "
            f"| {row['test_unseen_in_train_accuracy']:.4f} |"
        )


if __name__ == "__main__":
    main()
