"""Face crops as FER2013 made them: its faces are registered (centred, upright, at about one scale),
so a face found in a photo is cut the same way before the network sees it: turned about its centre
until the eye line the detector gives is level, framed by a square of the size and position FER2013's
frame has around the same detector's box, and scaled to 48x48.

The framing was measured, not guessed: BlazeFace on 3,000 FER2013 Training faces (`bench/framing.py`,
2,947 found once) puts the 48x48 frame's side at a median 1.164 box widths (quartiles of the box's
share of the frame 0.76, 0.86, 0.94), its centre level with the box's across and 0.079 box widths
above it; FER2013's eye lines lean by a few degrees either way (quartiles -6.2, -1.0, 4.2).
"""

from __future__ import annotations

import math

import numpy as np

from ferpipe.core.schema import IMAGE_SIDE
from ferpipe.detect.detection import Detection

FRAME_SIDE = 1.164  # the 48x48 frame's side, in detector box widths
FRAME_RAISE = 0.079  # the frame's centre above the box's centre, in box widths


def eye_angle(detection: Detection) -> float:
    """Degrees the eye line leans (positive: down to the image's right); 0 without eyes."""
    if detection.eyes is None:
        return 0.0
    (x0, y0), (x1, y1) = detection.eyes
    return math.degrees(math.atan2(y1 - y0, x1 - x0))


def aligned_crop(grey: np.ndarray, detection: Detection) -> np.ndarray:
    """The face as a 48x48 uint8 crop framed as FER2013 frames its faces, eye line level."""
    import cv2

    x, y, w, h = detection.box
    width = max(w, h)
    centre = (x + w / 2, y + h / 2 - FRAME_RAISE * width)
    side = max(IMAGE_SIDE, round(FRAME_SIDE * width))
    # About the centre, by the eye line's angle (OpenCV turns anticlockwise on screen for a positive
    # angle: a line leaning down to the right comes level), then the centre to the square's middle.
    turn = cv2.getRotationMatrix2D(centre, eye_angle(detection), 1.0)
    turn[:, 2] += np.array([side / 2 - centre[0], side / 2 - centre[1]])
    square = cv2.warpAffine(grey, turn, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return cv2.resize(square, (IMAGE_SIDE, IMAGE_SIDE), interpolation=cv2.INTER_AREA)


def box_crop(grey: np.ndarray, detection: Detection) -> np.ndarray:
    """The detector's box as it is, scaled to 48x48: for a detector that gives no eyes (Haar)."""
    import cv2

    x, y, w, h = detection.box
    return cv2.resize(grey[y : y + h, x : x + w], (IMAGE_SIDE, IMAGE_SIDE), interpolation=cv2.INTER_AREA)


def faces_in(grey: np.ndarray, rgb: np.ndarray, detector) -> list[tuple[Detection, np.ndarray]]:
    """Each face the detector finds in the image (RGB for the detector, grey for the crop), with its
    48x48 crop: aligned where the detector gives the eyes, its box otherwise."""
    return [
        (found, aligned_crop(grey, found) if found.eyes is not None else box_crop(grey, found))
        for found in detector(rgb)
    ]
