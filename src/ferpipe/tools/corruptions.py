"""Common corruptions of a face, at three severities: what webcam and phone pictures do to faces
before they reach the network. Each takes uint8 faces (N, 48, 48) and gives them back corrupted,
the same every time (seeded). `bench/robustness.py` measures the packaged models under each.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter

SEVERITIES = (1, 2, 3)
EYE_ROW = 19  # where FER2013's faces have their eyes, about: the occluded band is centred there


def gaussian_noise(faces: np.ndarray, severity: int) -> np.ndarray:
    sigma = (8, 16, 32)[severity - 1]  # grey levels
    noise = np.random.default_rng(severity).normal(0, sigma, faces.shape)
    return np.clip(np.rint(faces + noise), 0, 255).astype(np.uint8)


def blur(faces: np.ndarray, severity: int) -> np.ndarray:
    radius = (0.75, 1.5, 2.5)[severity - 1]  # a Gaussian's sigma, in pixels
    return _each(faces, lambda image: image.filter(ImageFilter.GaussianBlur(radius)))


def jpeg(faces: np.ndarray, severity: int) -> np.ndarray:
    quality = (50, 25, 10)[severity - 1]

    def compressed(image: Image.Image) -> Image.Image:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality)
        return Image.open(buffer)

    return _each(faces, compressed)


def brightness(faces: np.ndarray, severity: int) -> np.ndarray:
    shift = (32, 64, 96)[severity - 1]  # grey levels added: an overexposed picture
    return np.clip(faces.astype(np.int16) + shift, 0, 255).astype(np.uint8)


def contrast(faces: np.ndarray, severity: int) -> np.ndarray:
    keep = (0.6, 0.4, 0.2)[severity - 1]  # of each face's spread about its own mean
    mean = faces.mean(axis=(1, 2), keepdims=True)
    return np.clip(np.rint(mean + (faces - mean) * keep), 0, 255).astype(np.uint8)


def occlusion(faces: np.ndarray, severity: int) -> np.ndarray:
    height = (6, 10, 14)[severity - 1]  # rows of a mid-grey band across the eyes: sunglasses, a hand
    covered = faces.copy()
    covered[:, EYE_ROW - height // 2 : EYE_ROW + (height + 1) // 2] = 128
    return covered


def downscale(faces: np.ndarray, severity: int) -> np.ndarray:
    side = (32, 24, 16)[severity - 1]  # pixels: a face far from the camera, scaled back up
    return _each(
        faces,
        lambda image: image.resize((side, side), Image.Resampling.BILINEAR).resize(
            image.size, Image.Resampling.BILINEAR
        ),
    )


def _each(faces: np.ndarray, change: Callable[[Image.Image], Image.Image]) -> np.ndarray:
    return np.stack([np.asarray(change(Image.fromarray(face)).convert("L"), dtype=np.uint8) for face in faces])


CORRUPTIONS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "Gaussian noise (σ 8, 16, 32)": gaussian_noise,
    "blur (σ 0.75, 1.5, 2.5 px)": blur,
    "JPEG (quality 50, 25, 10)": jpeg,
    "brighter (+32, +64, +96)": brightness,
    "lower contrast (60, 40, 20%)": contrast,
    "eyes covered (6, 10, 14 rows)": occlusion,
    "downscaled (32, 24, 16 px)": downscale,
}


def robustness(predict: Callable[[np.ndarray], np.ndarray], faces: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy on the clean faces and under each corruption at each severity: {"clean": a,
    "<corruption>": [a1, a2, a3]}; `predict` answers class probabilities for (N, 48, 48, 1) faces."""

    def accuracy(batch: np.ndarray) -> float:
        return float((predict(batch[..., None]).argmax(axis=1) == labels).mean())

    table: dict = {"clean": accuracy(faces)}
    for name, corrupt in CORRUPTIONS.items():
        table[name] = [accuracy(corrupt(faces, severity)) for severity in SEVERITIES]
    return table


def markdown(table: dict) -> str:
    """The robustness table as a card shows it: accuracy at each severity, and the drop from clean."""
    clean = table["clean"]
    lines = [
        "| corruption (severity 1, 2, 3) | 1 | 2 | 3 |",
        "|---|---:|---:|---:|",
        f"| none | {clean:.4f} | | |",
    ]
    for name, values in table.items():
        if name != "clean":
            lines.append(f"| {name} | " + " | ".join(f"{v:.4f} ({100 * (v - clean):+.1f})" for v in values) + " |")
    return "\n".join(lines)
