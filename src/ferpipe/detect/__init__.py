"""Finding the faces people's photos hold, for `ferpipe predict` (photos and video frames),
`--annotate` and the API, and cutting each as FER2013 cut its faces (`align`).

Three detectors, by name: `blazeface` (the default: MediaPipe's BlazeFace run by LiteRT, in the light
install), `mtcnn` (the `mtcnn` package on TensorFlow: the pipeline install), `haar` (OpenCV's frontal
cascade: nothing more than OpenCV). Each takes an RGB image and answers `Detection`s, left to right.
BENCHMARKS.md measures them on real photos: recall, false positives, time.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

import numpy as np

from ferpipe.detect.detection import Detection

MIN_FACE = 24  # pixels: a smaller face holds too little for a 48x48 crop (half its side)


class DetectorName(StrEnum):
    blazeface = "blazeface"
    mtcnn = "mtcnn"
    haar = "haar"


# The score below which a detection is not taken for a face, by detector: MediaPipe's own for
# BlazeFace, MTCNN's usual last-stage threshold; Haar gives none.
MIN_SCORE = {DetectorName.blazeface: 0.5, DetectorName.mtcnn: 0.9, DetectorName.haar: None}


class Detector(Protocol):
    @property
    def name(self) -> str: ...

    def __call__(self, rgb: np.ndarray) -> list[Detection]: ...


def detector(name: str = DetectorName.blazeface, min_size: int = MIN_FACE, min_score: float | None = None) -> Detector:
    """A detector by name; `min_score` None: that detector's own default."""
    if name not in DetectorName.__members__:
        raise ValueError(f"detector: unknown {name!r}; known: {', '.join(DetectorName)}")
    score = MIN_SCORE[DetectorName(name)] if min_score is None else min_score
    if name == DetectorName.blazeface:
        from ferpipe.detect.blazeface import BlazeFace

        return BlazeFace(score or 0.0, min_size)
    if name == DetectorName.mtcnn:
        from ferpipe.detect.mtcnn import MTCNN

        return MTCNN(score or 0.0, min_size)
    from ferpipe.detect.haar import Haar

    return Haar(score, min_size)


__all__ = ["MIN_FACE", "MIN_SCORE", "Detection", "Detector", "DetectorName", "detector"]
