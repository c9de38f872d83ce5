"""Where a network looks, without gradients: occlusion sensitivity, for any network that answers
probabilities (the packaged LiteRT file included), and a heatmap drawn over its face. Grad-CAM
(`core.gradcam`) needs Keras' gradients; this needs only forward passes: a mid-grey patch is slid
over the 48x48 face, and each pixel's heat is how much the class's probability falls, on average,
while a patch covers it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ferpipe.core.schema import IMAGE_SIDE

PATCH, STRIDE = 8, 4  # pixels: 11 x 11 = 121 patches over a 48x48 face, each pixel under about 4
GREY = 128


def occlusion(predict: Callable[[np.ndarray], np.ndarray], face: np.ndarray, label: int) -> np.ndarray:
    """A (48, 48) map in 0..1 of how much covering each pixel lowers the probability of `label`;
    `predict` answers probabilities for (N, 48, 48, 1) uint8 faces."""
    starts = range(0, IMAGE_SIDE - PATCH + 1, STRIDE)
    corners = [(y, x) for y in starts for x in starts]
    covered = np.repeat(face[None, ..., None], len(corners), axis=0)
    for k, (y, x) in enumerate(corners):
        covered[k, y : y + PATCH, x : x + PATCH] = GREY
    clean = float(predict(face[None, ..., None])[0, label])
    drops = clean - np.asarray(predict(covered))[:, label]
    heat, count = np.zeros((IMAGE_SIDE, IMAGE_SIDE)), np.zeros((IMAGE_SIDE, IMAGE_SIDE))
    for drop, (y, x) in zip(drops, corners, strict=True):
        heat[y : y + PATCH, x : x + PATCH] += drop
        count[y : y + PATCH, x : x + PATCH] += 1
    heat = np.clip(heat / np.maximum(count, 1), 0, None)
    return heat / heat.max() if heat.max() > 0 else heat


def overlay(face: np.ndarray, heatmap: np.ndarray, opacity: float = 0.45) -> np.ndarray:
    """A grey face (H, W) with its heatmap (0..1) in colour over it (the jet colour map: blue cold,
    red hot): (H, W, 3) uint8 RGB."""
    import cv2

    colours = cv2.applyColorMap(np.rint(255 * np.clip(heatmap, 0, 1)).astype(np.uint8), cv2.COLORMAP_JET)
    colours = cv2.cvtColor(colours, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    grey = np.repeat(np.asarray(face, dtype=np.float32)[..., None] / 255.0, 3, axis=-1)
    return (255 * ((1 - opacity) * grey + opacity * colours)).clip(0, 255).astype(np.uint8)
