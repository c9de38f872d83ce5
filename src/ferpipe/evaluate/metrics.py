"""Evaluation metrics: pure functions from labels and class probabilities to numbers.

Reported: accuracy with a 95% bootstrap interval, balanced accuracy, macro-F1, per-class
precision/recall/F1, log loss; calibration before and after temperature scaling
(ferpipe.evaluate.calibration); the same on the test rows whose exact image is not also in the
training split; and, for comparison with the "88.6%" of the project ferpipe grew from, Keras' binary accuracy
over the one-hot outputs on PublicTest+PrivateTest (an all-zeros output scores 6/7 on it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import (
    balanced_accuracy_score,
    f1_score,
    precision_recall_fscore_support,
)

from ferpipe.core.config import EvaluateConfig
from ferpipe.core.schema import agreement_with_fer2013
from ferpipe.evaluate.calibration import calibration_metrics, log_loss_of


def evaluation_metrics(
    names: list[str],
    y_eval: np.ndarray,
    eval_probabilities: np.ndarray,
    seen_in_train: np.ndarray,
    y_val: np.ndarray,
    val_probabilities: np.ndarray,
    config: EvaluateConfig,
    fer2013_labels: np.ndarray | None,
    evaluated_on_val: bool = False,
) -> dict[str, Any]:
    """Every figure `evaluate` reports, for the evaluated split (test, or val when there is none)."""
    both = (
        (y_val, val_probabilities)
        if evaluated_on_val
        else (np.concatenate([y_val, y_eval]), np.concatenate([val_probabilities, eval_probabilities]))
    )
    metrics = {
        "test": classification_metrics(y_eval, eval_probabilities, names, config),
        "test_unseen_in_train": classification_metrics(
            y_eval[~seen_in_train], eval_probabilities[~seen_in_train], names, config
        ),
        # Validation figures: what model selection and promotion use.
        "val_accuracy": float(np.mean(val_probabilities.argmax(axis=1) == y_val)),
        "val_macro_f1": float(
            f1_score(
                y_val,
                val_probabilities.argmax(axis=1),
                labels=list(range(len(names))),
                average="macro",
                zero_division=0,
            )
        ),
        # The seed's metric: Keras binary accuracy on the one-hot outputs over PublicTest+PrivateTest.
        "seed_binary_accuracy": seed_binary_accuracy(*both, len(names)),
        "all_zeros_binary_accuracy": (len(names) - 1) / len(names),
        "calibration": calibration_metrics(y_eval, eval_probabilities, y_val, val_probabilities, config.calibration),
    }
    if fer2013_labels is not None:
        metrics["agreement_with_fer2013_labels"] = {
            # FER+ models are scored on FER+ labels; how often they name the original label, and how
            # often the FER+ label itself does, on the same faces.
            "model": agreement_with_fer2013(names, eval_probabilities.argmax(axis=1), fer2013_labels),
            "ferplus_label": agreement_with_fer2013(names, y_eval, fer2013_labels),
        }
    return metrics


def headline(metrics: dict[str, Any], best_epoch: int | None) -> dict[str, Any]:
    """The figures people compare between runs: what `dvc metrics show` and `dvc exp show` list,
    within 200 characters a line (balanced accuracy, log loss and the row count are in details)."""
    test = metrics["test"]
    figures = {
        "test_accuracy": test.get("accuracy"),
        "ci95_low": test.get("accuracy_ci95", [None, None])[0],
        "ci95_high": test.get("accuracy_ci95", [None, None])[1],
        "macro_f1": test.get("macro_f1"),
        "ece": metrics["calibration"]["before"].get("ece"),
        "ece_calibrated": metrics["calibration"]["after"].get("ece"),
        "temperature": metrics["calibration"]["temperature"],
        "unseen_accuracy": metrics["test_unseen_in_train"].get("accuracy"),
        "seed_binary_accuracy": metrics["seed_binary_accuracy"],
        "val_accuracy": metrics["val_accuracy"],
        "best_epoch": best_epoch,
    }
    return {name: value for name, value in figures.items() if value is not None}


def classification_metrics(
    y_true: np.ndarray, probabilities: np.ndarray, names: list[str], config: EvaluateConfig
) -> dict[str, Any]:
    if len(y_true) == 0:
        return {"rows": 0}
    labels = list(range(len(names)))
    predicted = probabilities.argmax(axis=1)
    correct = predicted == y_true
    precision, recall, f1, support = precision_recall_fscore_support(y_true, predicted, labels=labels, zero_division=0)
    return {
        "rows": int(len(y_true)),
        "accuracy": float(correct.mean()),
        "accuracy_ci95": bootstrap_interval(correct, config.bootstrap_samples, config.seed),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, predicted)),
        "macro_f1": float(f1_score(y_true, predicted, labels=labels, average="macro", zero_division=0)),
        "log_loss": log_loss_of(y_true, probabilities),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(names, precision, recall, f1, support, strict=True)
        },
    }


def bootstrap_interval(correct: np.ndarray, samples: int, seed: int) -> list[float]:
    """95% percentile bootstrap interval of the mean of `correct`."""
    rng = np.random.default_rng(seed)
    means = correct[rng.integers(0, len(correct), size=(samples, len(correct)))].mean(axis=1)
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def seed_binary_accuracy(y_true: np.ndarray, probabilities: np.ndarray, num_classes: int) -> float:
    """Keras' BinaryAccuracy over one-hot labels, as the seed computed it: outputs rounded at 0.5."""
    one_hot = np.eye(num_classes, dtype=bool)[y_true]
    return float(np.mean((np.asarray(probabilities) > 0.5) == one_hot))
