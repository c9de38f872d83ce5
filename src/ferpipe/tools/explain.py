"""`ferpipe explain`: where the network looked, per face of the inputs `ferpipe predict` reads (face
crops, photos with their faces found, CSV rows), for the class it predicts or one named: a picture
per face of the face, the heatmap over it, and the class with its probability.

Two ways to the map, by model: a Keras network (a `.keras` file, an MLflow model) gets Grad-CAM
(`core.gradcam`, its gradients: TensorFlow); the packaged model and any `.tflite` file get occlusion
sensitivity (`core.heatmaps`: forward passes alone, the light install).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ferpipe.core.heatmaps import occlusion, overlay
from ferpipe.tools.annotate import free_path
from ferpipe.tools.inputs import Report, face_batches
from ferpipe.tools.models import InVocabulary, answering, load_model_with_metadata

SHOWN_SIDE = 192  # pixels of each face and its map: 48x48 is too small to look at
CAPTION = 28  # pixels of the caption below them

# A way to the maps: (faces (N, 48, 48, 1), classes asked or None) -> (maps (N, 48, 48), classes, probabilities)
Mapper = Callable[[np.ndarray, np.ndarray | None], tuple[np.ndarray, np.ndarray, np.ndarray]]


def load_explained(reference: str | None, labels: str = "fer2013") -> tuple[Mapper, tuple[str, ...], dict]:
    """How the model's maps are made, its class names and what it was logged with: Grad-CAM for a
    Keras network, occlusion for the packaged model (None) or a LiteRT file."""
    if reference is None or reference.endswith(".tflite"):
        model, metadata = answering(reference, labels)
        return occluded(model), model.names, metadata
    from ferpipe.core.gradcam import heatmaps
    from ferpipe.tools.models import default_label_names, label_names_in

    network, metadata = load_model_with_metadata(reference)

    def grad_cam(pixels: np.ndarray, asked: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        maps, classes = heatmaps(network, pixels, asked)
        return maps, classes, np.asarray(network.predict(pixels.astype(np.float32), verbose=0))

    return grad_cam, label_names_in(metadata) or default_label_names(network.output_shape[-1]), metadata


def occluded(model: InVocabulary) -> Mapper:
    def maps(pixels: np.ndarray, asked: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        probabilities = model.predict_on_batch(pixels)
        classes = probabilities.argmax(axis=1) if asked is None else asked
        found = [
            occlusion(model.predict_on_batch, face[..., 0], int(c)) for face, c in zip(pixels, classes, strict=True)
        ]
        return np.array(found).reshape(-1, *pixels.shape[1:3]), classes, probabilities

    return maps


def explain(
    mapper: Mapper,
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
        maps, classes, probabilities = mapper(batch.pixels, asked)
        for face, pixels, heatmap, label, p in zip(
            batch.faces, batch.pixels, maps, classes, probabilities, strict=True
        ):
            picture = explained_picture(pixels[..., 0], heatmap, names[label], float(p[label]))
            picture.save(free_path(folder / f"{Path(face.source).name}.face{face.index}.{names[label]}.png"))
        report.predicted += len(batch.faces)
        report.sources.update(face.source for face in batch.faces)
    return report


def explained_picture(face: np.ndarray, heatmap: np.ndarray, name: str, probability: float) -> Image.Image:
    """The face and the map over it, side by side, and below them the class and its probability."""
    size = (SHOWN_SIDE, SHOWN_SIDE)
    picture = Image.new("RGB", (2 * SHOWN_SIDE, SHOWN_SIDE + CAPTION), "white")
    picture.paste(Image.fromarray(face).convert("RGB").resize(size, Image.Resampling.BILINEAR), (0, 0))
    picture.paste(Image.fromarray(overlay(face, heatmap)).resize(size, Image.Resampling.BILINEAR), (SHOWN_SIDE, 0))
    draw = ImageDraw.Draw(picture)
    draw.text(
        (SHOWN_SIDE, SHOWN_SIDE + CAPTION / 2), f"{name} {probability:.2f}", fill="black",
        font=ImageFont.load_default(size=16), anchor="mm",
    )  # fmt: skip
    return picture
