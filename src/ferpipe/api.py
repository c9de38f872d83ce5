"""The Python API: `Recognizer`, what `ferpipe predict` does, for one image at a time in a program.

    from ferpipe import Recognizer

    recognizer = Recognizer()                      # the packaged FER2013 model, loaded once
    for face in recognizer.predict("photo.jpg"):   # a path, a PIL image, or a numpy array
        print(face.box, face.emotion, face.probabilities["happy"])

Faces are found and cut as `ferpipe predict` finds and cuts them, and the model answers as it
answers there (calibrated unless `raw=True`): the same image gives the same numbers either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from ferpipe.core.images import open_image, to_grey_uint8, to_rgb_uint8
from ferpipe.core.schema import IMAGE_SIDE
from ferpipe.detect import MIN_FACE, Detector, DetectorName
from ferpipe.detect.align import faces_in


@dataclass(frozen=True)
class Expression:
    """One face and what the model says of it."""

    box: tuple[int, int, int, int] | None  # x, y, width, height in the image; None for a 48x48 face crop
    emotion: str  # the most probable class
    probabilities: dict[str, float]  # class name -> probability: FER2013's classes in its order (+ contempt)
    score: float | None = None  # the face detector's confidence; None for a crop, or a detector that gives none


class Recognizer:
    """A facial-expression model, loaded once, and the face detector `ferpipe predict` uses.

    `model`: None for the packaged model of `labels` ("fer2013": 7 classes, or "ferplus": 8); or a
    model file (`.tflite` runs on LiteRT alone; `.keras` needs TensorFlow) or an MLflow model
    (`models:/name@alias`, a model folder: the pipeline install). `raw=True`: the network's own
    probabilities, without the temperature its evaluation fitted. `detector`: "blazeface" (the
    default), "mtcnn" (needs TensorFlow) or "haar"; `min_face` its smallest face in pixels,
    `min_score` its confidence threshold (None: the detector's own default).
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        labels: str = "fer2013",
        raw: bool = False,
        detector: str = DetectorName.blazeface,
        min_face: int = MIN_FACE,
        min_score: float | None = None,
    ) -> None:
        from ferpipe.detect import detector as make_detector
        from ferpipe.tools.models import answering

        self.model, self.metadata = answering(None if model is None else str(model), labels, raw)
        self.label_names = self.model.names
        self._make_detector = partial(make_detector, detector, min_face, min_score)
        self._detector: Detector | None = None

    def predict(self, image: str | Path | Image.Image | np.ndarray) -> list[Expression]:
        """Every face in `image`, left to right: a path, a PIL image, or a numpy array (RGB HxWx3 or
        grey HxW, uint8). OpenCV's frames are BGR: pass `cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)`.
        A 48x48 image is taken as a face crop; in a larger one the faces are detected (none: [])."""
        return [expression for expression, _ in self.faces(image)]

    def faces(self, image: str | Path | Image.Image | np.ndarray) -> list[tuple[Expression, np.ndarray]]:
        """`predict`'s answers, each with the 48x48 grey crop the model read (what a heatmap is drawn on)."""
        grey, rgb = pixels_of(image)
        if grey.shape == (IMAGE_SIDE, IMAGE_SIDE):
            return list(zip(self.predict_crops(grey[None]), grey[None], strict=True))
        self._detector = self._detector or self._make_detector()
        found = faces_in(grey, rgb, self._detector)
        if not found:
            return []
        crops = np.stack([crop for _, crop in found])
        answers = self._answers(crops)
        return [
            (self._expression(p, face.box, face.score), crop)
            for (face, _), crop, p in zip(found, crops, answers, strict=True)
        ]

    def predict_crops(self, crops: np.ndarray) -> list[Expression]:
        """Face crops as FER2013 holds them: uint8, shape (N, 48, 48) or (N, 48, 48, 1), grey."""
        crops = np.asarray(crops)
        if crops.ndim == 4 and crops.shape[-1] == 1:
            crops = crops[..., 0]
        if crops.ndim != 3 or crops.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE) or crops.dtype != np.uint8:
            raise ValueError(f"expected uint8 face crops of shape (N, 48, 48), got {crops.dtype} {crops.shape}")
        return [self._expression(p) for p in self._answers(crops)]

    def _answers(self, crops: np.ndarray) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros((0, len(self.label_names)))
        return np.asarray(self.model.predict_on_batch(crops[..., None]))

    def _expression(
        self, probabilities: np.ndarray, box: tuple[int, int, int, int] | None = None, score: float | None = None
    ) -> Expression:
        named = {name: float(p) for name, p in zip(self.label_names, probabilities, strict=True)}
        return Expression(box, self.label_names[int(np.argmax(probabilities))], named, score)


def pixels_of(image: str | Path | Image.Image | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The image as `ferpipe predict` reads it: grey uint8 pixels (HxW) for the crops, and RGB ones
    (HxWx3) for the face detector."""
    if isinstance(image, (str, Path)):
        image = open_image(Path(image))
    elif not isinstance(image, Image.Image):
        array = np.asarray(image)
        if array.dtype != np.uint8 or not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
            raise ValueError(
                f"expected a uint8 image, grey HxW or RGB HxWx3 (RGBA HxWx4), got {array.dtype} {array.shape}"
            )
        image = Image.fromarray(array)
    grey = to_grey_uint8(image)
    return grey, to_rgb_uint8(image, grey)
