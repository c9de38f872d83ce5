"""OpenCV's frontal-face Haar cascade, which ships inside `opencv-python-headless`: no eyes, no
score, upright frontal faces only; kept as the detector that needs nothing more than OpenCV."""

from __future__ import annotations

import numpy as np

from ferpipe.detect.detection import Detection


class Haar:
    name = "haar"

    def __init__(self, min_score: float | None, min_size: int) -> None:
        import cv2

        self.min_size = min_size
        self.cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")  # type: ignore[attr-defined]  # cv2's stubs omit cv2.data
        if self.cascade.empty():
            raise RuntimeError("OpenCV's frontal-face cascade could not be loaded")

    def __call__(self, rgb: np.ndarray) -> list[Detection]:
        import cv2

        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb
        boxes = self.cascade.detectMultiScale(
            grey, scaleFactor=1.1, minNeighbors=5, minSize=(self.min_size, self.min_size)
        )
        found = [Detection(tuple(int(v) for v in box), None) for box in boxes]  # type: ignore[arg-type]
        return sorted(found, key=lambda d: (d.box[0], d.box[1]))
