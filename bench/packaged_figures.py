"""The packaged models' stated figures against an independent scoring of their files: the bare
LiteRT interpreter (none of ferpipe's code) on the test faces read straight from the CSVs, the
temperature applied by hand from `metadata.json`. FER2013: PrivateTest against its labels; FER+:
the PrivateTest faces FER+'s annotators gave a clear majority (not "unknown", not "not a face",
no tie), against that majority, as the FER+ test set is defined.

    python bench/packaged_figures.py [--data ../shared/data/fer2013/fer2013.csv.gz]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from alignment import REAL, usage_faces  # noqa: E402  (the same FER2013 reader)

PACKAGED = Path(__file__).resolve().parents[1] / "src/ferpipe/packaged"
EMOTION_VOTES = 8  # the vote columns of emotions; unknown and NF follow


def probabilities(model: Path, faces: np.ndarray, temperature: float) -> np.ndarray:
    runner = Interpreter(model_path=str(model)).get_signature_runner()
    (name,) = runner.get_input_details()
    rows = []
    for start in range(0, len(faces), 64):
        batch = faces[start : start + 64, ..., None].astype(np.float32)
        (out,) = runner(**{name: batch}).values()
        rows.append(out)
    logits = np.log(np.clip(np.concatenate(rows).astype(np.float64), 1e-12, 1)) / temperature
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def ferplus_majority(votes_file: Path, usage: str, names: list[str]) -> list[int | None]:
    """Per face of `usage`, in file order: its FER+ majority class as an index into `names`, or None."""
    answers = []
    with open(votes_file, newline="") as stream:
        for row in csv.DictReader(stream):
            if row["Usage"] != usage:
                continue
            columns = list(row)[2:12]
            votes = np.array([int(row[k]) for k in columns])
            votes[votes == 1] = 0  # one annotator alone: an outlier
            winner = int(np.argmax(votes))
            clear = votes[winner] * 2 > votes.sum() and winner < EMOTION_VOTES
            answers.append(names.index(columns[winner]) if clear else None)
    return answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REAL)
    args = parser.parse_args()
    faces, labels = usage_faces(args.data, "PrivateTest")
    print("| packaged | faces | stated | independent | difference |\n|---|---:|---:|---:|---:|")
    for family in ("fer2013", "ferplus"):
        meta = json.loads((PACKAGED / family / "metadata.json").read_text())
        x, y = faces, labels
        if family == "ferplus":
            majority = ferplus_majority(args.data.parent / "fer2013new.csv", "PrivateTest", meta["label_names"])
            x, y = faces[[m is not None for m in majority]], np.array([m for m in majority if m is not None])
        found = probabilities(PACKAGED / family / "model.tflite", x, meta["calibration"]["temperature"]).argmax(axis=1)
        accuracy, stated = float((found == y).mean()), meta["test"]["accuracy"]
        print(
            f"| {family} ({meta['registered']}) | {len(y):,} | {stated:.4f} | {accuracy:.4f} | {accuracy - stated:+.4f} |"
        )


if __name__ == "__main__":
    main()
