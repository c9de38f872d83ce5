"""Grey 48x48-ready pixels from image files of any mode and bit depth: for `ferpipe predict`
and for the served model's image input, which must read an image exactly alike."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

MAX_IMAGE_PIXELS = 40_000_000  # larger images are refused: decompression bombs


class ImageTooLarge(ValueError):
    """An image over MAX_IMAGE_PIXELS: a server answers it 413, not 400."""


def load_grey_image(source: Path | BinaryIO, notes: list[tuple[str, str]] | None = None) -> np.ndarray:
    """Grey uint8 pixels of an image file (a path, or bytes in a file object) of any mode and bit
    depth, scaled, never clipped. A problem is a ValueError whose message starts with its kind."""
    return to_grey_uint8(open_image(source, notes))


def open_image(source: Path | BinaryIO, notes: list[tuple[str, str]] | None = None) -> Image.Image:
    """An image file, decoded and turned upright as its EXIF orientation says: its first frame, with a
    note when it has more. A problem is a ValueError whose message starts with its kind."""
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                if image.width * image.height > MAX_IMAGE_PIXELS:
                    raise Image.DecompressionBombError("too many pixels")
                frames = getattr(image, "n_frames", 1)
                if frames > 1 and notes is not None:
                    notes.append((str(source), f"{frames} frames: the first was used"))
                image.load()
                return ImageOps.exif_transpose(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge(
            f"too large: more than {MAX_IMAGE_PIXELS:,} pixels (refused as a possible decompression bomb)"
        ) from None
    except Image.UnidentifiedImageError:
        raise ValueError("not an image: unrecognised format") from None
    except OSError as error:
        raise ValueError(f"unreadable: {error}") from None


def to_rgb_uint8(image: Image.Image, grey: np.ndarray) -> np.ndarray:
    """RGB uint8 pixels for a face detector: the image's own colours, or its grey pixels (already
    scaled by `to_grey_uint8`) three times for deeper modes."""
    if image.mode in ("RGB", "RGBA", "P", "L", "LA", "CMYK", "YCbCr", "1", "PA", "La", "RGBa"):
        return np.asarray(image.convert("RGB"), dtype=np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def to_grey_uint8(image: Image.Image) -> np.ndarray:
    """8-bit modes convert as Pillow does; 16-bit ones are scaled to 0..255 (Pillow's own
    conversion clips them, turning most of a face white); other depths are refused."""
    if image.mode.startswith("I;16") or (image.mode == "I" and image.format in ("PNG", "TIFF")):
        values = np.asarray(image, dtype=np.int64)
        if values.min() < 0 or values.max() > 65535:
            raise ValueError(f"unsupported: {image.mode} pixels outside 0..65535")
        return np.rint(values / 257).astype(np.uint8)
    if image.mode in ("I", "F"):
        raise ValueError(
            f"unsupported: {image.mode} ({'32-bit integer' if image.mode == 'I' else 'floating-point'}) "
            "pixels have no known scale; save the face as an 8- or 16-bit image"
        )
    return np.asarray(image.convert("L"), dtype=np.uint8)
