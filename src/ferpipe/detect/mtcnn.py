"""MTCNN (the `mtcnn` package, MIT, its weights inside it), run on TensorFlow: for the pipeline
install, where TensorFlow is there already. Boxes, scores and the two eyes."""

from __future__ import annotations

import numpy as np

from ferpipe.detect.detection import Detection


class MTCNN:
    name = "mtcnn"

    def __init__(self, min_score: float, min_size: int) -> None:
        from ferpipe.core.entry import quiet_start

        with quiet_start():  # TensorFlow's C++ start-up lines, printed as it loads
            from mtcnn import MTCNN as Network

        self.min_score, self.min_size = min_score, min_size
        self.network = Network()

    def __call__(self, rgb: np.ndarray) -> list[Detection]:
        rgb = np.repeat(rgb[..., None], 3, axis=2) if rgb.ndim == 2 else rgb
        height, width = rgb.shape[:2]
        found = []
        # The package's own pyramid (from 20-pixel faces): its min_face_size of 24 finds nothing in a
        # 1280x886 group photo where its default finds seven; smaller faces are dropped below.
        for face in self.network.detect_faces(rgb):
            score = float(face["confidence"])
            x, y, w, h = (float(v) for v in face["box"])
            if score < self.min_score or min(w, h) < self.min_size:
                continue
            points = face.get("keypoints", {})
            eyes = (
                (tuple(map(float, points["left_eye"])), tuple(map(float, points["right_eye"])))
                if "left_eye" in points and "right_eye" in points
                else None
            )
            found.append(Detection.of_corners((x, y, x + w, y + h), (width, height), score, eyes))
        return sorted(found, key=lambda d: (d.box[0], d.box[1]))
