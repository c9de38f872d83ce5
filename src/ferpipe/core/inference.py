"""Class probabilities of a trained model (Keras, or its LiteRT export) for a batch of faces,
with test-time augmentation.

The one place a trained model is asked for probabilities over arrays: evaluate, ensemble, the
served model and the bench scripts all call `class_probabilities`.
"""

from __future__ import annotations

import numpy as np

# Faces per model call when predicting. Small batches run faster on a CPU (the activations stay
# in cache) and keep memory low; BENCHMARKS.md (issue 19) has the measurements.
BATCH_SIZE = 64


def class_probabilities(model, images: np.ndarray, batch_size: int, tta: str = "none") -> np.ndarray:
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
        raise ValueError(f"evaluate.tta: unknown {tta!r}; known: none, flip, ten_crop")
    # Shifted views keep the frame size: the face moves by TTA_SHIFT pixels, the edge repeats.
    s = TTA_SHIFT
    padded = np.pad(images, ((0, 0), (s, s), (s, s), (0, 0)), mode="edge")
    height, width = images.shape[1:3]
    shifted = [padded[:, s + dy:s + dy + height, s + dx:s + dx + width] for dy, dx in
               ((0, 0), (-s, -s), (-s, s), (s, -s), (s, s))]
    return shifted + [view[:, :, ::-1] for view in shifted]
