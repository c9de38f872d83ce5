"""What FER+ test accuracy means, measured on the real files.

Builds the FER+ majority arrays with the pipeline's own ingest and convert, then scores, side by
side on the FER+ test faces (PrivateTest rows with a clear majority):

- the most frequent training class, every time (the floor);
- FER2013's own label, mapped to its FER+ name: what a model that reproduced FER2013's
  labels perfectly would score on FER+ (the cost of FER2013's label noise);
- optionally trained models (`--model`, any reference `ferpipe predict` takes), through the
  same evaluation code as the `evaluate` stage.

    python bench/ferplus_labels.py [--source fer2013.csv.gz] [--votes fer2013new.csv] [--model REF ...]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from ferpipe.convert.stage import convert
from ferpipe.core.arrays import load_optional, load_split
from ferpipe.core.config import load_config
from ferpipe.core.schema import to_fer2013
from ferpipe.evaluate.metrics import bootstrap_interval
from ferpipe.ingest.stage import ingest

PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"  # the repository's, wherever this runs

SHARED = Path(__file__).resolve().parents[2] / "shared/data/fer2013"


def scored(name: str, correct: np.ndarray) -> dict:
    return {"predictor": name, "accuracy": float(correct.mean()), "ci95": bootstrap_interval(correct, 1000, 0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SHARED / "fer2013.csv.gz")
    parser.add_argument("--votes", type=Path, default=SHARED / "fer2013new.csv")
    parser.add_argument("--model", action="append", default=[], help="a trained FER+ model to score as well")
    args = parser.parse_args()
    source, votes = args.source.resolve(), args.votes.resolve()

    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        report = ingest(
            replace(load_config(PARAMS).ingest, source=str(source), labels="ferplus_majority", ferplus_votes=str(votes))
        )
        manifest = convert()
        arrays = Path("data/arrays")
        x_test, y_test = load_split(arrays, "test")
        _, y_train = load_split(arrays, "train")
        original = load_optional(arrays, "fer2013_test")
        names = manifest["label_names"]
        most_frequent = int(np.bincount(y_train).argmax())
        results = [
            scored(f"always '{names[most_frequent]}' (most frequent training class)", y_test == most_frequent),
            scored("FER2013's own label (mapped to FER+ names)", to_fer2013(names, y_test) == original),
        ]
        for reference in args.model:
            from ferpipe.core.inference import class_probabilities
            from ferpipe.tools.models import load_model

            predicted = class_probabilities(
                load_model(reference), x_test, load_config(PARAMS).evaluate.batch_size
            ).argmax(axis=1)
            results.append(scored(f"model {reference}", predicted == y_test))

    print(
        json.dumps(
            {
                "test_faces": int(len(y_test)),
                "dropped": report["labels"]["dropped"],
                "kept": report["labels"]["kept"],
                "results": results,
            },
            indent=2,
        )
    )
    print("\n| predictor | FER+ test accuracy (95% CI) |\n|---|---|")
    for row in results:
        print(f"| {row['predictor']} | {row['accuracy']:.4f} ({row['ci95'][0]:.4f}–{row['ci95'][1]:.4f}) |")


if __name__ == "__main__":
    main()
