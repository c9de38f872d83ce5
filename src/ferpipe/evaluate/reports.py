"""The evaluate stage's report files, written together once whole: metrics, the model card,
predictions, confusion matrices, per-class scores, the most confident mistakes and per-class
Grad-CAM maps (what the network looked at), and the reliability diagram with its tables."""

from __future__ import annotations

import csv
from typing import Any

import keras
import numpy as np
import pandas as pd

from ferpipe.core import gradcam
from ferpipe.core.files import atomic_outputs, write_json
from ferpipe.core.paths import EvaluateOutputs
from ferpipe.evaluate import plots


def write_reports(
    outputs: EvaluateOutputs,
    metrics: dict[str, Any],
    figures: dict[str, Any],
    names: list[str],
    images: np.ndarray,
    labels: np.ndarray,
    probabilities: np.ndarray,
    label: str,
    misclassified_shown: int,
    model: keras.Model,
    card: str,
) -> None:
    predicted = probabilities.argmax(axis=1)
    mistakes, mistake_maps, class_maps = explanations(model, images, labels, probabilities, misclassified_shown)
    with atomic_outputs(*vars(outputs).values()) as staged:
        write_json(staged(outputs.details), metrics)
        staged(outputs.card).write_text(card)
        write_json(staged(outputs.metrics), figures)
        with open(staged(outputs.predictions), "w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(["actual", "predicted"])
            writer.writerows((names[a], names[p]) for a, p in zip(labels, predicted, strict=True))
        plots.confusion_matrix_png(
            labels, predicted, names, staged(outputs.confusion), normalize=False, title=f"Confusion matrix ({label})"
        )
        plots.confusion_matrix_png(
            labels,
            predicted,
            names,
            staged(outputs.confusion_normalized),
            normalize=True,
            title=f"Confusion matrix, row-normalised ({label})",
        )
        plots.per_class_png(metrics["test"]["per_class"], staged(outputs.per_class), f"Per-class scores ({label})")
        plots.misclassified_png(
            images,
            labels,
            probabilities,
            names,
            staged(outputs.misclassified),
            misclassified_shown,
            f"Most confident mistakes ({label})",
        )
        plots.explanations_png(
            images,
            labels,
            probabilities,
            mistakes,
            mistake_maps,
            class_maps,
            names,
            staged(outputs.explanations),
            f"Explanations ({label})",
        )
        calibration = metrics["calibration"]
        plots.reliability_png(
            calibration["reliability"],
            calibration,
            calibration["temperature"],
            staged(outputs.reliability),
            f"Reliability ({label})",
        )
        for when, table in (("before", outputs.reliability_before), ("after", outputs.reliability_after)):
            pd.DataFrame(calibration["reliability"][when], columns=["bin", "confidence", "accuracy", "count"]).to_csv(
                staged(table), index=False
            )


FACES_PER_CLASS_MAP = 256  # correctly classified faces averaged into each class's map: plenty for a mean


def explanations(
    model: keras.Model, images: np.ndarray, labels: np.ndarray, probabilities: np.ndarray, shown: int
) -> tuple[np.ndarray, np.ndarray, dict[int, tuple[np.ndarray, np.ndarray]]]:
    """Grad-CAM maps of the most confident mistakes (for the class predicted), and per class the mean
    face and mean map of its correctly classified faces."""
    predicted = probabilities.argmax(axis=1)
    mistakes = plots.confident_mistakes(labels, probabilities, shown)
    mistake_maps, _ = gradcam.heatmaps(model, images[mistakes], predicted[mistakes])
    class_maps: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for label in np.unique(labels):
        right = np.flatnonzero((labels == label) & (predicted == label))[:FACES_PER_CLASS_MAP]
        if len(right):
            maps, _ = gradcam.heatmaps(model, images[right], predicted[right])
            mean_map = maps.mean(axis=0)
            class_maps[int(label)] = (
                np.asarray(images[right], dtype=np.float32).mean(axis=0).squeeze(),
                mean_map / max(float(mean_map.max()), 1e-12),
            )
    return mistakes, mistake_maps, class_maps
