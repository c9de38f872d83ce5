"""A packaged model's card: the card evaluate wrote for its version, with its figures as text (the
package carries no image: the evaluation's PNGs stay with the run), measured on the packaged file
itself: its confusion on PrivateTest and its accuracy under common corruptions."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ferpipe.core.inference import Calibration, served_probabilities
from ferpipe.packaged import MODEL

FIGURE_LINE = re.compile(r"^!\[.*\n?", re.MULTILINE)  # the evaluation card's images: files the package lacks


def card_figures(
    lite_file: Path, faces: np.ndarray, labels: np.ndarray, calibration: Calibration, names: list[str]
) -> str:
    """The packaged file's confusion on the test faces (each row: a true class, as % of its faces)
    and its accuracy under each corruption at three severities."""
    from ferpipe.core.lite import LiteModel
    from ferpipe.tools.corruptions import markdown, robustness

    network = LiteModel(lite_file)
    predicted = served_probabilities(network, faces, 256, calibration).argmax(axis=1)
    confusion = np.zeros((len(names), len(names)))
    np.add.at(confusion, (labels, predicted), 1)
    shares = 100 * confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    rows = [
        "| true \\ predicted | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
        *(f"| {name} | " + " | ".join(f"{v:.0f}" for v in row) + " |" for name, row in zip(names, shares, strict=True)),
    ]
    corrupted = robustness(lambda batch: network.predict(batch, 256), faces[..., 0], labels)
    return (
        "Confusion on PrivateTest, as packaged (each row a true class; % of its faces):\n\n"
        + "\n".join(rows)
        + "\n\nAccuracy under common corruptions of PrivateTest, as packaged (points from clean in brackets; "
        "`ferpipe.tools.corruptions`, `bench/robustness.py`):\n\n" + markdown(corrupted) + "\n"
    )


def packaged_card(card: str, metadata: dict[str, Any], figures: str) -> str:
    test = metadata["test"]
    low, high = test["accuracy_ci95"]
    weights = (
        "float32 weights"
        if metadata["quantization"] == "none"
        else f"weights quantized {metadata['quantization']} (float32's PrivateTest accuracy: "
        f"{metadata['float32_test_accuracy']:.4f})"
    )
    return (
        f"{FIGURE_LINE.sub('', card).rstrip()}\n\n## This packaged file\n\n`{MODEL}`: the LiteRT export of "
        f"{metadata['registered']}, {weights}, "
        f"calibrated with T = {metadata['calibration']['temperature']:.4f} (test-time views: "
        f"`{metadata['calibration']['tta']}`). Scored again as packaged: PrivateTest accuracy {test['accuracy']:.4f} "
        f"(95% CI {low:.4f}–{high:.4f}, {test['rows']:,} faces). Use: `ferpipe predict photo.jpg`.\n\n{figures}"
    )
