"""Shared helpers: small FER-format files that tests write themselves, and the real data's path."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_FER2013 = Path(os.environ.get("FER2013_CSV", REPO_ROOT.parent / "shared/data/fer2013/fer2013.csv.gz"))


def random_faces(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(count, 2304), dtype=np.uint8)


def pixel_text(face: np.ndarray) -> str:
    return " ".join(map(str, face))


def fer_csv_text(labels, usages, faces, newline: str = "\n") -> str:
    lines = ["emotion,pixels,Usage"] + [
        f"{label},{pixel_text(face)},{usage}" for label, usage, face in zip(labels, usages, faces)
    ]
    return newline.join(lines) + newline


@pytest.fixture
def small_fer():
    """21 faces: every class in Training, PublicTest and PrivateTest."""
    labels = [label for label in range(7) for _ in range(3)]
    usages = ["Training", "PublicTest", "PrivateTest"] * 7
    return labels, usages, random_faces(21)


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run the test from an empty folder, as a stage runs from the repository root."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def require_real_data() -> Path:
    if not REAL_FER2013.is_file():
        pytest.skip(f"real FER2013 not found at {REAL_FER2013} (set FER2013_CSV to its path)")
    return REAL_FER2013
