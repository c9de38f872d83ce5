"""Reading the `convert` stage's arrays: uint8 images, labels and the manifest that describes them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ferpipe.core.files import reading
from ferpipe.core.paths import ConvertOutputs

ARRAYS = ConvertOutputs.arrays


def read_manifest(arrays_dir: Path | str = ARRAYS) -> dict[str, Any]:
    path = Path(arrays_dir) / "manifest.json"
    with reading(path, made_by="convert"):
        return json.loads(path.read_text())


def load_array(path: Path, mmap_mode: Literal["r"] | None = None) -> np.ndarray:
    with reading(path, made_by="convert"):
        return np.load(path, mmap_mode=mmap_mode)


def load_split(arrays_dir: Path | str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 48, 48, 1) uint8 and integer labels of one split, the images memory-mapped."""
    arrays_dir = Path(arrays_dir)
    return load_array(arrays_dir / f"x_{split}.npy", mmap_mode="r"), load_array(arrays_dir / f"y_{split}.npy")


def load_optional(arrays_dir: Path | str, name: str) -> np.ndarray | None:
    """An array that only some label modes write (targets_train, fer2013_test, ...), or None."""
    path = Path(arrays_dir) / f"{name}.npy"
    return load_array(path) if path.exists() else None
