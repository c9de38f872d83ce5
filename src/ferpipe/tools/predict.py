"""Predict expressions for people's own inputs: image files of any size and colour, folders
of them, or FER-format CSVs.

Images that are already 48x48 are taken as face crops; larger ones go through OpenCV's
bundled frontal-face Haar cascade, one prediction per detected face with its box. A bad
file is reported with its reason and the rest go on.

Longer than most modules because every kind of input a person brings (image modes and bit
depths, folders, CSVs, photos needing a face detector) is read here, next to the one loop
that reports each failure.
"""

from __future__ import annotations

import csv
import io
import json
import os
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from tqdm import tqdm

from ferpipe.core.schema import EMOTIONS, FERPLUS_CLASSES, IMAGE_SIDE

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
CSV_SUFFIXES = (".csv", ".csv.gz")
MAX_IMAGE_PIXELS = 40_000_000  # larger images are refused: decompression bombs


@dataclass(frozen=True)
class Face:
    source: str
    index: int  # face number within the source (row number for CSVs)
    box: tuple[int, int, int, int] | None  # x, y, width, height in the source image; None for crops
    pixels: np.ndarray  # (48, 48) uint8


@dataclass
class Results:
    faces: list[Face] = field(default_factory=list)
    probabilities: np.ndarray | None = None
    failures: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)
    notes: list[tuple[str, str]] = field(default_factory=list)  # (source, what was done with it)
    label_names: tuple[str, ...] = EMOTIONS

    def summary(self) -> str:
        sources = len({f.source for f in self.faces})
        text = f"predicted {len(self.faces)} face(s) from {sources} input(s)"
        if self.failures:
            reasons = Counter(reason.split(":")[0] for _, reason in self.failures)
            text += f"; {len(self.failures)} input(s) failed: " + ", ".join(f"{n} {r}" for r, n in reasons.most_common())
        return text


def load_model(reference: str):
    """A `.keras` file, or an MLflow model: `models:/name@alias`, `runs:/id/model`, or a model folder."""
    import keras
    import mlflow

    if reference.endswith(".keras"):
        if not Path(reference).is_file():
            raise FileNotFoundError(f"{reference}: no such model file")
        return keras.saving.load_model(reference)
    return mlflow.pyfunc.load_model(reference).unwrap_python_model().network  # ferpipe.core.serving


def logged_metadata(reference: str) -> dict:
    """What an MLflow model was logged with (class names, the kind of data); nothing for a `.keras` file."""
    if reference.endswith(".keras"):
        return {}
    from mlflow.models import get_model_info

    return get_model_info(reference).metadata or {}


def label_names_of(reference: str) -> tuple[str, ...] | None:
    names = logged_metadata(reference).get("label_names")
    return tuple(names) if names else None


def default_label_names(classes: int) -> tuple[str, ...]:
    """For a model without recorded names: FER2013's 7 or FER+'s 8 classes, by its output width."""
    known = {len(EMOTIONS): EMOTIONS, len(FERPLUS_CLASSES): FERPLUS_CLASSES}
    return known.get(classes, tuple(f"class_{i}" for i in range(classes)))


def expand(inputs: list[Path]) -> Iterator[Path]:
    for path in inputs:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and _kind(p))
        else:
            yield path


def _kind(path: Path) -> str | None:
    if path.name.lower().endswith(CSV_SUFFIXES):
        return "csv"
    return "image" if path.suffix.lower() in IMAGE_SUFFIXES else None


def read_faces(paths: list[Path], results: Results) -> None:
    detector = None
    for path in tqdm(list(expand(paths)), desc="reading inputs", unit="file", mininterval=2, disable=None):
        try:
            if not path.exists():
                raise ValueError("missing: no such file")
            if _kind(path) == "csv":
                results.faces += faces_in_csv(path, results)
                continue
            grey = load_grey_image(path, results.notes)
            if grey.shape == (IMAGE_SIDE, IMAGE_SIDE):
                results.faces.append(Face(str(path), 0, None, grey))
                continue
            detector = detector or face_detector()
            found = detect_faces(grey, detector)
            if not found:
                raise ValueError("no face: the face detector found none")
            results.faces += [Face(str(path), i, box, crop) for i, (box, crop) in enumerate(found)]
        except ValueError as problem:
            results.failures.append((str(path), str(problem)))


def load_grey_image(path: Path, notes: list[tuple[str, str]] | None = None) -> np.ndarray:
    """Grey uint8 pixels of an image of any mode and bit depth, scaled, never clipped."""
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if image.width * image.height > MAX_IMAGE_PIXELS:
                    raise Image.DecompressionBombError("too many pixels")
                frames = getattr(image, "n_frames", 1)
                if frames > 1 and notes is not None:
                    notes.append((str(path), f"{frames} frames: the first was used"))
                image.load()
                return to_grey_uint8(ImageOps.exif_transpose(image))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValueError(f"too large: more than {MAX_IMAGE_PIXELS:,} pixels (refused as a possible decompression bomb)") from None
    except Image.UnidentifiedImageError:
        raise ValueError("not an image: unrecognised format") from None
    except OSError as error:
        raise ValueError(f"unreadable: {error}") from None


def to_grey_uint8(image: Image.Image) -> np.ndarray:
    """8-bit modes convert as Pillow does; 16-bit ones are scaled to 0..255 (Pillow's own
    conversion clips them, turning most of a face white); other depths are refused."""
    if image.mode.startswith("I;16") or (image.mode == "I" and image.format in ("PNG", "TIFF")):
        values = np.asarray(image, dtype=np.int64)
        if values.min() < 0 or values.max() > 65535:
            raise ValueError(f"unsupported: {image.mode} pixels outside 0..65535")
        return np.rint(values / 257).astype(np.uint8)
    if image.mode in ("I", "F"):
        raise ValueError(f"unsupported: {image.mode} ({'32-bit integer' if image.mode == 'I' else 'floating-point'}) "
                         "pixels have no known scale; save the face as an 8- or 16-bit image")
    return np.asarray(image.convert("L"), dtype=np.uint8)


def check_output(destination: Path | None) -> None:
    """Refuse, before any work, a destination that cannot be written."""
    if destination is None:
        return
    if destination.is_dir():
        raise ValueError(f"{destination}: is a folder; name a .csv or .json file")
    folder = destination.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK) or (
            destination.exists() and not os.access(destination, os.W_OK)):
        raise ValueError(f"{destination}: cannot be written here ({folder} is not a writable folder)")


def face_detector():
    import cv2

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    if cascade.empty():
        raise RuntimeError("OpenCV's frontal-face cascade could not be loaded")
    return cascade


def detect_faces(grey: np.ndarray, detector) -> list[tuple[tuple[int, int, int, int], np.ndarray]]:
    import cv2

    boxes = detector.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(IMAGE_SIDE // 2, IMAGE_SIDE // 2))
    faces = []
    for x, y, w, h in sorted((tuple(int(v) for v in box) for box in boxes), key=lambda b: (b[0], b[1])):
        crop = cv2.resize(grey[y : y + h, x : x + w], (IMAGE_SIDE, IMAGE_SIDE), interpolation=cv2.INTER_AREA)
        faces.append(((x, y, w, h), crop))
    return faces


def faces_in_csv(path: Path, results: Results) -> list[Face]:
    """Rows of a CSV with a `pixels` column (any FER2013 form, or Kaggle's test.csv)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from ferpipe.ingest.pixels import parse_pixel_strings

    try:
        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types={"pixels": pa.string()}))
    except (pa.ArrowInvalid, OSError, EOFError) as error:
        raise ValueError(f"unreadable: {error}") from None
    column = next((name for name in table.column_names if name.strip() == "pixels"), None)
    if column is None:
        raise ValueError(f"no pixels column: columns are {table.column_names}")
    images, problems = parse_pixel_strings(table[column])
    for row, reason in problems.items():
        results.failures.append((f"{path}:line {row + 2}", f"bad row: {reason}"))
    valid_rows = [row for row in range(table.num_rows) if row not in problems]
    return [Face(str(path), row, None, image.reshape(IMAGE_SIDE, IMAGE_SIDE)) for row, image in zip(valid_rows, images)]


def predict(model, paths: list[Path], batch_size: int = 256, label_names: tuple[str, ...] | None = None) -> Results:
    results = Results(label_names=tuple(label_names or default_label_names(model.output_shape[-1])))
    read_faces(paths, results)
    if results.faces:
        images = np.stack([face.pixels for face in results.faces])[..., None]
        batches = range(0, len(images), batch_size)
        parts = [model.predict(images[i : i + batch_size], verbose=0)
                 for i in tqdm(batches, desc="predicting", unit="batch", mininterval=2, disable=None)]
        results.probabilities = np.concatenate(parts)
    return results


def rows(results: Results) -> list[dict]:
    out = []
    for face, probabilities in zip(results.faces, results.probabilities if results.probabilities is not None else []):
        x, y, w, h = face.box if face.box else ("", "", "", "")
        out.append({"source": face.source, "face": face.index, "x": x, "y": y, "width": w, "height": h,
                    "emotion": results.label_names[int(np.argmax(probabilities))],
                    **{name: round(float(p), 6) for name, p in zip(results.label_names, probabilities)}})
    return out


def write(results: Results, destination: Path | None) -> str:
    """CSV, or JSON when the destination ends in .json; returns the text when there is no destination."""
    table = rows(results)
    if destination is not None and destination.suffix == ".json":
        text = json.dumps({"predictions": table, "failures": [{"source": s, "reason": r} for s, r in results.failures]},
                          indent=2)
    else:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["source", "face", "x", "y", "width", "height", "emotion",
                                                    *results.label_names])
        writer.writeheader()
        writer.writerows(table)
        text = buffer.getvalue()
    if destination is not None:
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(text)
    return text
