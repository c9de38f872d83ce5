"""Trained models the package carries, one folder per label family (`fer2013/`, `ferplus/`), each
written by `ferpipe ship` from a registered version trained on the real data: `model.tflite` (the
network's LiteRT export), `metadata.json` (class names, calibration, the file's and the data's
sha256, the git commit, the params, the accuracy of this very file) and `model_card.md`. They run
with the LiteRT interpreter alone: no TensorFlow, Keras or MLflow.

Everything is checked as it is read: a damaged, swapped or hand-edited file is one line naming it
(`PackagedModelError`), never a traceback or an answer from a network the metadata does not describe.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FAMILIES = ("fer2013", "ferplus")
MODEL, METADATA, CARD = "model.tflite", "metadata.json", "model_card.md"


class PackagedModelError(ValueError):
    """The packaged model's files are missing, damaged or disagree with each other."""


@dataclass(frozen=True)
class Packaged:
    folder: Path

    @cached_property
    def metadata(self) -> dict[str, Any]:
        """metadata.json, its fields checked: what every reader of it relies on."""
        path = self.folder / METADATA
        try:
            meta = json.loads(path.read_text())
        except FileNotFoundError:
            raise PackagedModelError(f"{path}: missing; the packaged model cannot be used without it") from None
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise PackagedModelError(f"{path}: not readable JSON ({' '.join(str(error).split())[:120]})") from None
        problem = metadata_problem(meta)
        if problem:
            raise PackagedModelError(f"{path}: {problem}")
        return meta

    @cached_property
    def calibration(self):
        from ferpipe.core.inference import Calibration

        try:
            return Calibration.of(self.metadata["calibration"], f"{self.folder / METADATA} calibration")
        except ValueError as error:
            raise PackagedModelError(str(error)) from None

    def network(self):
        """The LiteRT network, refused when it is not the file the metadata describes."""
        from ferpipe.core.lite import LiteModel

        path = self.folder / MODEL
        recorded = self.metadata["model_sha256"]
        if sha256_of_file(path) != recorded:
            raise PackagedModelError(
                f"{path}: its sha256 is not the one {METADATA} records ({recorded[:12]}...): "
                "the file was replaced or damaged; reinstall ferpipe or ship a model again"
            )
        try:
            network = LiteModel(path)
        except (ValueError, RuntimeError) as error:
            raise PackagedModelError(str(error)) from None
        classes = len(self.metadata["label_names"])
        if network.output_shape[-1] != classes:
            raise PackagedModelError(
                f"{path}: answers {network.output_shape[-1]} classes, but {METADATA} names {classes}"
            )
        return network

    def describe(self) -> str:
        meta = self.metadata
        return (
            f"the packaged {meta['labels']} model ({meta['model']}, {meta['registered']}, PrivateTest accuracy "
            f"{meta['test']['accuracy']:.4f})"
        )


def metadata_problem(meta: Any) -> str | None:
    """What is wrong with a packaged metadata.json's content, or None."""
    if not isinstance(meta, dict):
        return "not a JSON object"
    names = meta.get("label_names")
    if not (isinstance(names, list) and names and all(isinstance(n, str) and n for n in names)):
        return "label_names: not a list of class names"
    if len(set(names)) != len(names):
        return f"label_names: repeats a class ({names})"
    for key in ("labels", "model", "registered", "model_sha256"):
        if not isinstance(meta.get(key), str):
            return f"{key}: missing, or not text"
    test = meta.get("test")
    accuracy = test.get("accuracy") if isinstance(test, dict) else None
    if not (isinstance(accuracy, float) and math.isfinite(accuracy) and 0 <= accuracy <= 1):
        return "test.accuracy: missing, or not a number between 0 and 1"
    if not isinstance(meta.get("calibration"), dict):
        return "calibration: missing"
    return None


def sha256_of_file(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as error:
        raise PackagedModelError(f"{path}: cannot be read ({error.strerror})") from None


def packaged(family: str = "fer2013", root: Path | None = None) -> Packaged:
    """The packaged model of a label family (in `root`, by default this package's folder);
    FileNotFoundError when it carries none."""
    root = HERE if root is None else root
    folder = root / family
    if not (folder / MODEL).is_file():
        shipped = [name for name in FAMILIES if (root / name / MODEL).is_file()]
        raise FileNotFoundError(
            f"no packaged {family} model in {root} (packaged: {', '.join(shipped) or 'none'}); "
            "name a model, or ship one: ferpipe ship models:/<name>@champion"
        )
    return Packaged(folder)


def load(family: str = "fer2013", raw: bool = False, root: Path | None = None):
    """The packaged network as `ferpipe predict` runs it (calibrated unless `raw`), and its metadata."""
    from ferpipe.core.inference import Served

    model = packaged(family, root)
    return Served(model.network(), model.calibration, raw), model.metadata
