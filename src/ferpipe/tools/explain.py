"""`ferpipe explain`: where the network looked, per face: a Grad-CAM heatmap over each face of the
inputs `ferpipe predict` reads (face crops, photos with faces detected, CSV rows), for the class
it predicts or one named, written as a PNG per face."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ferpipe.core.gradcam import heatmaps, overlay
from ferpipe.tools.annotate import free_path
from ferpipe.tools.inputs import Report, face_batches
from ferpipe.tools.models import default_label_names, label_names_in, load_model_with_metadata

SHOWN_SIDE = 192  # pixels of each written heatmap: 48x48 is too small to look at


def load_explained(reference: str) -> tuple[Any, tuple[str, ...], dict]:
    """The Keras network (Grad-CAM needs its gradients), its class names and what it was logged with."""
    network, metadata = load_model_with_metadata(reference)
    return network, label_names_in(metadata) or default_label_names(network.output_shape[-1]), metadata


def explain(
    network,
    names: tuple[str, ...],
    inputs: list[Path],
    folder: Path,
    class_name: str | None = None,
    batch_size: int = 64,
) -> Report:
    if class_name is not None and class_name not in names:
        raise ValueError(f"--class {class_name}: not one of the model's classes {list(names)}")
    report = Report()
    folder.mkdir(parents=True, exist_ok=True)
    for batch in face_batches(inputs, batch_size, report):
        if not batch.faces:
            continue
        asked = None if class_name is None else np.full(len(batch.faces), names.index(class_name))
        maps, classes = heatmaps(network, batch.pixels, asked)
        for face, pixels, heatmap, label in zip(batch.faces, batch.pixels, maps, classes, strict=True):
            picture = Image.fromarray(overlay(pixels[..., 0], heatmap)).resize(
                (SHOWN_SIDE, SHOWN_SIDE), Image.Resampling.BILINEAR
            )
            picture.save(free_path(folder / f"{Path(face.source).name}.face{face.index}.{names[label]}.png"))
        report.predicted += len(batch.faces)
        report.sources.update(face.source for face in batch.faces)
    return report
