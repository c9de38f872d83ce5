"""Class probabilities of a trained model (Keras, or its LiteRT export) for a batch of faces,
with test-time augmentation, and calibrated by a temperature.

The one place a trained model is asked for probabilities over arrays: evaluate, ensemble, the
served model, `ferpipe predict` and the bench scripts all call `class_probabilities`; the served
model and `ferpipe predict` answer with `served_probabilities`, the way evaluate measured it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, get_args

import numpy as np

from ferpipe.core.config import TestTimeViews


class Predictor(Protocol):
    """What inference runs: a Keras model, its LiteRT export (`core.lite.LiteModel`), or `Served`."""

    output_shape: Any

    def predict(self, x: np.ndarray, batch_size: int, verbose: int = 0) -> np.ndarray: ...


# Faces per model call when predicting. Small batches run faster on a CPU (the activations stay
# in cache) and keep memory low; BENCHMARKS.md (prediction speed, BENCHMARKS.md) has the measurements.
BATCH_SIZE = 64


def class_probabilities(model: Predictor, images: np.ndarray, batch_size: int, tta: str = "none") -> np.ndarray:
    """Class probabilities, averaged over the test-time views of each image."""
    if len(images) == 0:
        return np.zeros((0, model.output_shape[-1]), dtype=np.float32)
    views = tta_views(np.asarray(images), tta)
    return np.mean([model.predict(view, batch_size=batch_size, verbose=0) for view in views], axis=0)


TTA_SHIFT = 2  # pixels: well within the shifts the recipes train with (up to 0.1 x 48 = 4.8 px)


def tta_views(images: np.ndarray, tta: str) -> list[np.ndarray]:
    """The views of an (N, H, W, C) batch that test-time augmentation averages over."""
    if tta == "none":
        return [images]
    mirror = images[:, :, ::-1]
    if tta == "flip":
        return [images, mirror]
    if tta != "ten_crop":
        raise ValueError(f"evaluate.tta: unknown {tta!r}; known: {', '.join(TTA_KINDS)}")
    # Shifted views keep the frame size: the face moves by TTA_SHIFT pixels, the edge repeats.
    s = TTA_SHIFT
    padded = np.pad(images, ((0, 0), (s, s), (s, s), (0, 0)), mode="edge")
    height, width = images.shape[1:3]
    shifted = [
        padded[:, s + dy : s + dy + height, s + dx : s + dx + width]
        for dy, dx in ((0, 0), (-s, -s), (-s, s), (s, -s), (s, s))
    ]
    return shifted + [view[:, :, ::-1] for view in shifted]


def scaled(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities with their logits divided by `temperature`: p^(1/T), renormalised per row.
    The order of the classes, and so the predicted one, never changes."""
    logits = np.log(np.clip(np.asarray(probabilities, dtype=np.float64), 1e-12, 1)) / temperature
    exponentials = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exponentials / exponentials.sum(axis=1, keepdims=True)


TTA_KINDS: tuple[str, ...] = get_args(TestTimeViews)


@dataclass(frozen=True)
class Calibration:
    """How a model's answers are made as its evaluation measured them: the test-time views averaged,
    then the temperature fitted on val. Kept with the logged model (`calibration.json`) and in a
    packaged model's metadata. Checked when made: a temperature that is not a finite number above 0
    would answer NaN, uniform or (below 0) reversed probabilities, so it is refused."""

    temperature: float = 1.0
    tta: str = "none"

    FILE = "calibration.json"

    def __post_init__(self) -> None:
        t = self.temperature
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t <= 0:
            raise ValueError(f"temperature must be a finite number above 0, not {t!r}")
        if self.tta not in TTA_KINDS:
            raise ValueError(f"tta must be one of {', '.join(TTA_KINDS)}, not {self.tta!r}")

    @classmethod
    def of(cls, recorded: Any, where: str) -> Calibration:
        """The calibration a file records (`{"temperature": T, "tta": ...}`); ValueError naming `where`
        when it is not one."""
        if not isinstance(recorded, dict) or "temperature" not in recorded:
            raise ValueError(f"{where}: no calibration temperature recorded")
        try:
            return cls(recorded["temperature"], recorded.get("tta", "none"))
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None

    @classmethod
    def read(cls, path: Path) -> Calibration | None:
        """The calibration in `path`, or None when there is none (a model not evaluated yet, or
        before there was one). A file that is not one is a ValueError naming it."""
        if not Path(path).is_file():
            return None
        try:
            recorded = json.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise ValueError(f"{path}: not a calibration file ({' '.join(str(error).split())[:120]})") from None
        return cls.of(recorded, str(path))

    def write(self, path: Path) -> None:
        Path(path).write_text(json.dumps(asdict(self)) + "\n")


def served_probabilities(
    model: Predictor, images: np.ndarray, batch_size: int, calibration: Calibration, raw: bool = False
) -> np.ndarray:
    """What the served model answers: probabilities over the calibration's test-time views, scaled by
    its temperature unless `raw` (the network's own, uncalibrated, probabilities are asked for)."""
    probabilities = class_probabilities(model, images, batch_size, calibration.tta)
    return probabilities if raw or calibration.temperature == 1.0 else scaled(probabilities, calibration.temperature)


class Served:
    """A network (Keras, or its LiteRT export) answering as the served model does
    (`served_probabilities`): what `ferpipe predict` runs for an MLflow model or the packaged one."""

    def __init__(self, network: Predictor, calibration: Calibration, raw: bool = False) -> None:
        self.network, self.calibration, self.raw = network, calibration, raw
        self.output_shape = network.output_shape

    def predict_on_batch(self, pixels: np.ndarray) -> np.ndarray:
        return served_probabilities(self.network, pixels, max(len(pixels), 1), self.calibration, self.raw)
