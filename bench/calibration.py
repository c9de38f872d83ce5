"""Calibration of trained models before and after temperature scaling.

For each model (`--model`, any reference `ferpipe predict` takes) and test-time augmentation,
side by side on the same arrays, with the `evaluate` stage's own code: the temperature fitted on
PublicTest, then on PrivateTest the top-class ECE (15 bins), class-wise ECE, Brier score and log
loss before and after it, and the accuracy (which scaling cannot change); beside them, the ECE's
sampling floor: the mean ECE of labels drawn from the calibrated probabilities themselves (a
perfectly calibrated model on as many faces shows that much from chance alone). With `--figures DIR`
it also writes the reliability diagram and the Grad-CAM explanations image `evaluate` writes, for
a person to look at.

    python bench/calibration.py --arrays <run>/data/arrays --model <run>/models/model.keras [--model ...]
        [--tta none flip] [--figures reports/bench]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ferpipe.core.arrays import ARRAYS, load_split
from ferpipe.core.inference import class_probabilities, scaled
from ferpipe.evaluate.calibration import calibration_metrics


def sampling_floor(probabilities: np.ndarray, draws: int = 50, seed: int = 0) -> float:
    """The mean ECE of these probabilities against labels drawn from them: calibrated by construction."""
    from ferpipe.evaluate.calibration import expected_calibration_error

    rng = np.random.default_rng(seed)
    cumulative = np.cumsum(probabilities / probabilities.sum(axis=1, keepdims=True), axis=1)
    floors = []
    for _ in range(draws):
        labels = (rng.random((len(cumulative), 1)) > cumulative).sum(axis=1).clip(max=cumulative.shape[1] - 1)
        floors.append(expected_calibration_error(labels, probabilities))
    return float(np.mean(floors))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arrays", type=Path, default=ARRAYS)
    parser.add_argument("--model", action="append", required=True, help="a trained model (repeatable)")
    parser.add_argument("--tta", nargs="+", default=["none"], choices=["none", "flip", "ten_crop"])
    parser.add_argument("--figures", type=Path, help="write reliability and explanations PNGs here")
    args = parser.parse_args()

    from ferpipe.evaluate import plots
    from ferpipe.evaluate.reports import explanations
    from ferpipe.tools.models import load_model

    x_val, y_val = load_split(args.arrays, "val")
    x_test, y_test = load_split(args.arrays, "test")
    names = json.loads((args.arrays / "manifest.json").read_text())["label_names"]
    print(
        f"{'model':<40} {'tta':<8} {'T':>6} {'acc':>7} {'ECE':>13} {'floor':>6} {'class ECE':>13} {'Brier':>13} "
        f"{'log loss':>13}"
    )
    for number, reference in enumerate(args.model):
        model = load_model(reference)
        for tta in args.tta:
            val = class_probabilities(model, x_val, 256, tta)
            test = class_probabilities(model, x_test, 256, tta)
            figures = calibration_metrics(y_test, test, y_val, val, "temperature")
            pair = {key: f"{figures['before'][key]:.4f}→{figures['after'][key]:.4f}" for key in figures["before"]}
            floor = sampling_floor(scaled(test, figures["temperature"]))
            print(
                f"{reference[-40:]:<40} {tta:<8} {figures['temperature']:>6.3f} {np.mean(test.argmax(1) == y_test):>7.4f} "
                f"{pair['ece']:>13} {floor:>6.4f} {pair['classwise_ece']:>13} {pair['brier']:>13} {pair['log_loss']:>13}"
            )
            if args.figures:
                args.figures.mkdir(parents=True, exist_ok=True)
                label = f"PrivateTest, model {number + 1}, tta {tta}"
                plots.reliability_png(
                    figures["reliability"],
                    figures,
                    figures["temperature"],
                    args.figures / f"reliability_{number + 1}_{tta}.png",
                    f"Reliability ({label})",
                )
                mistakes, maps, class_maps = explanations(model, x_test, y_test, test, 36)
                plots.explanations_png(
                    x_test,
                    y_test,
                    test,
                    mistakes,
                    maps,
                    class_maps,
                    names,
                    args.figures / f"explanations_{number + 1}_{tta}.png",
                    f"Explanations ({label})",
                )


if __name__ == "__main__":
    main()
