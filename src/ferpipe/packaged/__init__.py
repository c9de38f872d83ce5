"""Trained models the package carries, one folder per label family (`fer2013/`, `ferplus/`), each
written by `ferpipe ship` from a registered version trained on the real data: `model.tflite` (the
network's LiteRT export), `metadata.json` (class names, calibration, the data's sha256, the git
commit, the params, the accuracy of this very file) and `model_card.md`. They run with the LiteRT
interpreter alone: no TensorFlow, Keras or MLflow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FAMILIES = ("fer2013", "ferplus")
MODEL, METADATA, CARD = "model.tflite", "metadata.json", "model_card.md"


@dataclass(frozen=True)
class Packaged:
    folder: Path

    @cached_property
    def metadata(self) -> dict[str, Any]:
        return json.loads((self.folder / METADATA).read_text())

    def describe(self) -> str:
        meta = self.metadata
        return (
            f"the packaged {meta['labels']} model ({meta['model']}, {meta['registered']}, PrivateTest accuracy "
            f"{meta['test']['accuracy']:.4f})"
        )


def packaged(family: str = "fer2013", root: Path = HERE) -> Packaged:
    """The packaged model of a label family; FileNotFoundError when this copy carries none."""
    folder = root / family
    if not (folder / MODEL).is_file():
        shipped = [name for name in FAMILIES if (root / name / MODEL).is_file()]
        raise FileNotFoundError(
            f"no packaged {family} model in {root} (packaged: {', '.join(shipped) or 'none'}); "
            "name a model, or ship one: ferpipe ship models:/<name>@champion"
        )
    return Packaged(folder)


def load(family: str = "fer2013", raw: bool = False, root: Path = HERE):
    """The packaged network as `ferpipe predict` runs it (calibrated unless `raw`), and its metadata."""
    from ferpipe.core.inference import Calibration, Served
    from ferpipe.core.lite import LiteModel

    model = packaged(family, root)
    meta = model.metadata
    calibration = Calibration(meta["calibration"]["temperature"], meta["calibration"]["tta"])
    return Served(LiteModel(model.folder / MODEL), calibration, raw), meta
