"""MTCNN, the detector for the pipeline install: boxes, scores and eyes, as the other detectors give them."""

import numpy as np
import pytest
from PIL import Image

from ferpipe.detect import detector
from ferpipe.detect.align import eye_angle
from tests.conftest import grace_hopper

pytestmark = pytest.mark.slow  # TensorFlow


def test_mtcnn_finds_the_face_and_its_eyes_where_blazeface_does():
    rgb = np.asarray(Image.open(grace_hopper()).convert("RGB"))
    (by_mtcnn,), (by_blazeface,) = detector("mtcnn")(rgb), detector("blazeface")(rgb)
    assert by_mtcnn.score > 0.9 and by_mtcnn.eyes is not None and abs(eye_angle(by_mtcnn)) < 6
    (mx, my), (bx, by) = by_mtcnn.eyes[0], by_blazeface.eyes[0]
    assert abs(mx - bx) < 15 and abs(my - by) < 15  # the same left eye
    assert detector("mtcnn")(np.full((300, 400, 3), 128, np.uint8)) == []
