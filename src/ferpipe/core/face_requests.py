"""The faces a request to a served model holds, read and checked with numpy and Pillow alone
(the light install's server and MLflow's both take them through here).

One entry per face, either
- its pixels as numbers 0..255, shape (N, 48, 48, 1): MLflow's own JSON tensor form; or
- a string (compact: about a fifth of the bytes, and far less parsing): base64 of the 2,304 raw
  uint8 pixels, row by row, or a data URI of a 48x48 image file (`data:image/png;base64,...`),
  read as `ferpipe predict` reads images.
A value that is not an integer 0..255 is refused, never rounded or truncated on the way in.
"""

from __future__ import annotations

import base64
import binascii
import io
from typing import Any, NoReturn

import numpy as np

from ferpipe.core.images import load_grey_image
from ferpipe.core.schema import IMAGE_SIDE

FACE_SHAPE = (IMAGE_SIDE, IMAGE_SIDE, 1)


class FaceRequestError(ValueError):
    """The request's faces cannot be read: the message, one line, says which face and why (HTTP 400)."""


def faces_from(model_input: Any) -> np.ndarray:
    """(N, 48, 48, 1) uint8 faces, or a FaceRequestError whose message fits on a line."""
    if isinstance(model_input, dict):  # the signature's one named tensor
        model_input = model_input.get("faces", next(iter(model_input.values()), None))
    values = np.asarray(model_input.to_numpy() if hasattr(model_input, "to_numpy") else model_input)
    if values.ndim == 1 and len(values) and all(isinstance(value, str) for value in values):
        return np.stack([decoded(text, face) for face, text in enumerate(values)])[..., None]
    try:
        numbers = values.astype(np.float64)
    except (TypeError, ValueError):
        refuse("expected, for each face, its pixel numbers or a base64 string (docs/prediction.md)")
    if numbers.ndim != 4 or numbers.shape[1:] != FACE_SHAPE:
        refuse(f"expected faces of shape (N, {IMAGE_SIDE}, {IMAGE_SIDE}, 1), got {numbers.shape}")
    bad = (
        ~np.isfinite(numbers) | (numbers < 0) | (numbers > 255) | (numbers != np.round(numbers)) | booleans(values)
    )  # JSON's true is no pixel value, though NumPy reads it as 1
    if bad.any():
        face, y, x, _ = np.argwhere(bad)[0]
        refuse(
            f"pixels must be integers 0..255: face {face}, row {y}, column {x} is {_plain(values[face, y, x, 0])!r}"
            f" ({int(bad.sum())} such value(s))"
        )
    return numbers.astype(np.uint8)


def _plain(value: Any) -> Any:
    """A value as the client wrote it (12.5, True), not as a NumPy scalar's repr."""
    return value.item() if isinstance(value, np.generic) else value


def booleans(values: np.ndarray) -> np.ndarray:
    """Where an array (of numbers, or of the Python objects JSON parsed into) holds True or False."""
    if values.dtype == bool:
        return np.ones(values.shape, bool)
    if values.dtype != object:
        return np.zeros(values.shape, bool)
    return np.frompyfunc(lambda value: isinstance(value, (bool, np.bool_)), 1, 1)(values).astype(bool)


def decoded(text: str, face: int) -> np.ndarray:
    """One face from its compact string: base64 of the raw pixels, or a data URI of an image file."""
    header, is_uri, payload = text.partition(",") if text.startswith("data:") else ("", False, text)
    if is_uri and not header.endswith(";base64"):
        refuse(f"face {face}: a data URI must be base64 (data:image/png;base64,...), got {header[:40]!r}")
    try:
        data = base64.b64decode(payload, validate=True)
    except binascii.Error:
        refuse(f"face {face}: not base64 ({len(payload)} characters starting {payload[:16]!r})")
    if is_uri:
        try:
            pixels = load_grey_image(io.BytesIO(data))
        except ValueError as problem:
            refuse(f"face {face}: {problem}")
        if pixels.shape != (IMAGE_SIDE, IMAGE_SIDE):
            refuse(
                f"face {face}: the image is {pixels.shape[1]}x{pixels.shape[0]}; send {IMAGE_SIDE}x{IMAGE_SIDE} face crops"
            )
        return pixels
    if len(data) != IMAGE_SIDE * IMAGE_SIDE:
        refuse(
            f"face {face}: {len(data)} bytes of pixels, expected {IMAGE_SIDE * IMAGE_SIDE} ({IMAGE_SIDE}x{IMAGE_SIDE} uint8); "
            "an image file goes in a data URI"
        )
    return np.frombuffer(data, np.uint8).reshape(IMAGE_SIDE, IMAGE_SIDE)


def refuse(message: str) -> NoReturn:
    raise FaceRequestError(message)
