"""Evaluation figures, as PNGs: people would rather see these than read them."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay  # noqa: E402


def confusion_matrix_png(
    y_true: np.ndarray, y_pred: np.ndarray, names: list[str], path: Path, *, normalize: bool, title: str
) -> None:
    figure, axis = plt.subplots(figsize=(7, 6))
    ConfusionMatrixDisplay.from_predictions(
        y_true,
        y_pred,
        labels=list(range(len(names))),
        display_labels=names,
        ax=axis,
        cmap="Blues",
        normalize="true" if normalize else None,
        values_format=".2f" if normalize else "d",
        colorbar=False,
    )
    axis.set_title(title)
    axis.tick_params(axis="x", rotation=45)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def per_class_png(per_class: dict[str, dict[str, float]], path: Path, title: str) -> None:
    names = list(per_class)
    measures = ("precision", "recall", "f1")
    figure, axis = plt.subplots(figsize=(9, 4.5))
    width = 0.27
    for i, measure in enumerate(measures):
        bars = axis.bar(
            np.arange(len(names)) + (i - 1) * width, [per_class[n][measure] for n in names], width, label=measure
        )
        axis.bar_label(bars, fmt="%.2f", fontsize=6, padding=1)
    axis.set_xticks(np.arange(len(names)), names)
    axis.set_ylim(0, 1.05)
    axis.legend(loc="upper left", ncols=3)
    axis.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def confident_mistakes(y_true: np.ndarray, probabilities: np.ndarray, shown: int) -> np.ndarray:
    """Rows of the `shown` most confidently misclassified faces, most confident first."""
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != y_true)
    return wrong[np.argsort(-probabilities[wrong, predicted[wrong]], kind="stable")][:shown]


def misclassified_png(
    images: np.ndarray,
    y_true: np.ndarray,
    probabilities: np.ndarray,
    names: list[str],
    path: Path,
    shown: int,
    title: str,
) -> None:
    """A grid of the most confidently misclassified faces: true label → predicted (probability)."""
    predicted = probabilities.argmax(axis=1)
    wrong = confident_mistakes(y_true, probabilities, shown)
    columns = 6
    rows = max(1, int(np.ceil(len(wrong) / columns)))
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 1.7, rows * 1.9), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, row in zip(axes.flat, wrong, strict=False):
        axis.imshow(images[row].squeeze(), cmap="gray", vmin=0, vmax=255)
        axis.set_title(
            f"{names[y_true[row]]}→{names[predicted[row]]}\n{probabilities[row, predicted[row]]:.2f}", fontsize=7
        )
    figure.suptitle(title if len(wrong) else f"{title}: none", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def reliability_png(
    reliability: dict[str, list[dict]], figures: dict[str, dict[str, float]], temperature: float, path: Path, title: str
) -> None:
    """Accuracy against top-class confidence per bin, before and after temperature scaling: on the
    diagonal, a probability means what it says. Marker areas follow the bins' face counts."""
    figure, axis = plt.subplots(figsize=(5.5, 5.5))
    axis.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="calibrated")
    for when, colour, label in (
        ("before", "tab:red", "network"),
        ("after", "tab:blue", f"scaled, T = {temperature:.2f}"),
    ):
        points = reliability[when]
        if not points:
            continue
        largest = max(point["count"] for point in points)
        axis.plot(
            [p["confidence"] for p in points],
            [p["accuracy"] for p in points],
            color=colour,
            linewidth=1.2,
            label=f"{label} (ECE {figures[when]['ece']:.3f})",
        )
        axis.scatter(
            [p["confidence"] for p in points],
            [p["accuracy"] for p in points],
            color=colour,
            zorder=3,
            s=[12 + 120 * p["count"] / largest for p in points],
        )
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.set_xlabel("confidence (top-class probability)")
    axis.set_ylabel("accuracy")
    axis.set_title(title, fontsize=10)
    axis.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def explanations_png(
    images: np.ndarray,
    y_true: np.ndarray,
    probabilities: np.ndarray,
    mistakes: np.ndarray,
    mistake_maps: np.ndarray,
    class_maps: dict[int, tuple[np.ndarray, np.ndarray]],
    names: list[str],
    path: Path,
    title: str,
) -> None:
    """Grad-CAM: the most confident mistakes with the map of the class predicted over each face, then,
    per class, the mean map over correctly classified faces on their mean face."""
    from ferpipe.core.heatmaps import overlay

    predicted = probabilities.argmax(axis=1)
    columns = 6
    mistake_rows = max(1, int(np.ceil(len(mistakes) / columns)))
    class_rows = max(1, int(np.ceil(len(class_maps) / columns)))
    figure, axes = plt.subplots(
        mistake_rows + class_rows, columns, figsize=(columns * 1.7, (mistake_rows + class_rows) * 1.95), squeeze=False
    )
    for axis in axes.flat:
        axis.axis("off")
    for axis, row, heatmap in zip(axes[:mistake_rows].flat, mistakes, mistake_maps, strict=False):
        axis.imshow(overlay(images[row].squeeze(), heatmap))
        axis.set_title(
            f"{names[y_true[row]]}→{names[predicted[row]]}\n{probabilities[row, predicted[row]]:.2f}", fontsize=7
        )
    for axis, (label, (face, heatmap)) in zip(axes[mistake_rows:].flat, sorted(class_maps.items()), strict=False):
        axis.imshow(overlay(face, heatmap))
        axis.set_title(f"{names[label]}: mean of\nits right answers", fontsize=7)
    figure.suptitle(
        f"{title}: where the network looked (Grad-CAM)\nits most confident mistakes, then each class", fontsize=9
    )
    figure.tight_layout(rect=(0, 0, 1, 0.97))
    figure.savefig(path, dpi=100)
    plt.close(figure)
