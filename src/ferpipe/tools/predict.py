"""Predict expressions for people's own inputs (`ferpipe.tools.inputs` reads them), streaming:
the next batch is read and decoded on a background thread while the model runs on this one,
and each batch's rows are written as soon as they are predicted, so memory stays bounded by
the batch size whatever the size of the input.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ferpipe.core.entry import quiet_start
from ferpipe.core.files import existing_ancestor, writable
from ferpipe.core.inference import BATCH_SIZE, Served
from ferpipe.core.schema import EMOTIONS, FERPLUS_CLASSES, IMAGE_SIDE, in_vocabulary
from ferpipe.tools.inputs import FRAMES_PER_SECOND, Batch, Face, Report, count_inputs, face_batches

MODEL_SCHEMES = ("models:/", "runs:/", "file:", "s3://", "gs://", "http://", "https://", "dbfs:/", "mlflow-artifacts:")


def names_a_model(reference: str) -> bool:
    """Whether `ferpipe predict`'s first argument is a model (else it is an input, and the packaged
    model answers): a model file, an MLflow model URI, or an MLflow model folder."""
    return (
        reference.endswith((".keras", ".tflite"))
        or reference.startswith(MODEL_SCHEMES)
        or (Path(reference) / "MLmodel").is_file()
    )


def load_predictor(reference: str, raw: bool = False) -> tuple[object, dict]:
    """What `ferpipe predict` runs and what it was logged with (class names, the kind of data).
    A `.tflite` or `.keras` file is run as the train stage wrote it (no calibration), with what
    the train stage recorded beside it (`model_record`); anything else is an MLflow model that
    ferpipe logged, loaded from its files (never unpickled: `core.serving.load_logged`): its
    LiteRT export where it was logged with one (no TensorFlow), else its Keras network,
    answering as the server does (calibrated, unless `raw`). A `models:/` alias is resolved
    once, so the network, its calibration and its metadata come from the same version."""
    if reference.endswith(".tflite"):
        from ferpipe.core.lite import LiteModel

        return LiteModel(reference), model_record(reference)
    if reference.endswith(".keras"):
        return load_model(reference), model_record(reference)
    from ferpipe.core.serving import load_logged

    served = load_logged(local_folder(reference))
    model = served.unwrap_python_model()
    metadata = dict(served.metadata.metadata or {})
    if not model.calibrated:
        metadata["uncalibrated"] = True
    return Served(model.network, model.calibration, raw), metadata


def local_folder(reference: str) -> Path:
    """An MLflow model's folder on this machine: a model folder as it is, a URI downloaded."""
    if Path(reference).is_dir():
        return Path(reference)
    import mlflow  # only for MLflow models: it adds seconds to the start of every command

    return Path(mlflow.artifacts.download_artifacts(reference))


def model_record(model_file: str) -> dict:
    """What the train stage recorded of a bare network beside it (`models/model.json` for
    `models/model.keras` and `.tflite`: the kind of data, the class names), or {} when there is none."""
    path = Path(model_file).with_suffix(".json")
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"{path}: not readable JSON ({' '.join(str(error).split())[:120]})") from None
    names = record.get("label_names") if isinstance(record, dict) else None
    if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
        raise ValueError(f"{path}: label_names: not a list of class names")
    if record.get("data") not in ("real", "synthetic"):
        raise ValueError(f"{path}: data: {record.get('data')!r} is not real or synthetic")
    return record


def load_model(reference: str):
    """The Keras network of a `.keras` file or an MLflow model (`models:/name@alias`, `runs:/id/model`,
    or a model folder): what ensembles, explanations and the bench scripts build on."""
    return load_model_with_metadata(reference)[0]


def load_model_with_metadata(reference: str) -> tuple[Any, dict]:
    """`load_model`'s network, and the metadata it was logged with (none for a `.keras` file)."""
    metadata: dict = {}
    if reference.endswith(".tflite"):
        raise ValueError(f"{reference}: a LiteRT file only predicts; name the .keras file or the MLflow model")
    if not reference.endswith(".keras"):
        import mlflow

        from ferpipe.core.serving import NETWORK

        folder = local_folder(reference)
        logged = mlflow.models.Model.load(folder)
        metadata = logged.metadata or {}
        artifacts = logged.flavors.get("python_function", {}).get("artifacts") or {}
        if NETWORK not in artifacts:
            raise ValueError(f"{reference}: holds no Keras network (a packaged model has its LiteRT file only)")
        reference = str(folder / artifacts[NETWORK]["path"])
    else:
        metadata = model_record(reference)
    if not Path(reference).is_file():
        raise FileNotFoundError(f"{reference}: no such model file")
    with quiet_start():  # TensorFlow's C++ start-up lines, printed as it loads
        import keras

    try:
        model = keras.saving.load_model(reference)
    except Exception as error:  # Keras raises many kinds (a Lambda layer refused by safe mode, a bad zip, ...)
        reason = " ".join(str(error).split())
        raise ValueError(f"{reference}: cannot be loaded as a Keras model ({reason[:300]})") from None
    if tuple(model.input_shape[1:]) != (IMAGE_SIDE, IMAGE_SIDE, 1):
        raise ValueError(
            f"{reference}: takes inputs of shape {list(model.input_shape)}, "
            f"not batches of {IMAGE_SIDE}x{IMAGE_SIDE} grey faces"
        )
    return model, metadata


class InVocabulary:
    """A model answering in the project's vocabulary (`schema.VOCABULARY`): its columns reordered,
    its class names translated, as every answer people read is given."""

    def __init__(self, model: Any, names: tuple[str, ...]) -> None:
        self.model, (self.names, self.order) = model, in_vocabulary(names)
        self.output_shape = model.output_shape

    def predict_on_batch(self, pixels: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict_on_batch(pixels))[:, self.order]


def answering(reference: str | None, labels: str = "fer2013", raw: bool = False) -> tuple[InVocabulary, dict]:
    """What answers people (`ferpipe predict`, the API, the server): the model named (None: the
    packaged one of `labels`), in the vocabulary, and the metadata it came with."""
    if reference is None:
        from ferpipe import packaged

        model, metadata = packaged.load(labels, raw)
    else:
        model, metadata = load_predictor(reference, raw)
    names = label_names_in(metadata) or default_label_names(model.output_shape[-1])
    return InVocabulary(model, names), metadata


def label_names_in(metadata: dict) -> tuple[str, ...] | None:
    names = metadata.get("label_names")
    return tuple(names) if names else None


def default_label_names(classes: int) -> tuple[str, ...]:
    """For a model without recorded names: FER2013's 7 or FER+'s 8 classes, by its output width."""
    known = {len(EMOTIONS): EMOTIONS, len(FERPLUS_CLASSES): FERPLUS_CLASSES}
    return known.get(classes, tuple(f"class_{i}" for i in range(classes)))


def check_output(destination: Path | None, option: str = "--output", suffixes: tuple[str, ...] = ()) -> None:
    """Refuse, before any work, a file destination that cannot be written, in one line naming it."""
    if destination is None:
        return
    if destination.is_dir():
        kinds = " or ".join(suffixes) or "file"
        raise ValueError(f"{option} {destination}: is a folder; name a {kinds} file")
    if suffixes and not destination.name.lower().endswith(suffixes):
        raise ValueError(f"{option} {destination}: name a {' or '.join(suffixes)} file")
    if destination.exists() and not os.access(destination, os.W_OK):
        raise ValueError(f"{option} {destination}: the file is read-only")
    if not writable(destination.parent):
        folder = existing_ancestor(destination.parent)
        raise ValueError(f"{option} {destination}: cannot be written here ({folder} is not a writable folder)")


def check_folder(folder: Path | None, option: str) -> None:
    """Refuse, before any work, a destination folder that is a file or cannot be written."""
    if folder is None:
        return
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{option} {folder}: not a folder")
    if not writable(folder):
        raise ValueError(
            f"{option} {folder}: cannot be written here ({existing_ancestor(folder)} is not a writable folder)"
        )


def predicted_batches(
    model, paths: list[Path], batch_size: int, report: Report, fps: float = FRAMES_PER_SECOND
) -> Iterator[tuple[Batch, np.ndarray]]:
    """Each batch of faces with its class probabilities; the next batch is read while this one runs."""
    for batch in read_ahead(face_batches(paths, batch_size, report, fps)):
        probabilities = (
            np.asarray(model.predict_on_batch(batch.pixels))
            if batch.faces
            else np.zeros((0, model.output_shape[-1]), np.float32)
        )
        report.predicted += len(batch.faces)
        report.sources.update(face.source for face in batch.faces)
        yield batch, probabilities


def read_ahead(items: Iterator) -> Iterator:
    """`items`, with the next one made on a background thread while the caller uses this one.
    (Decoding and parsing release the GIL in numpy, Pillow, OpenCV and Arrow; so does the model.)"""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as reader:
        upcoming = reader.submit(next, items, None)
        while (item := upcoming.result()) is not None:
            upcoming = reader.submit(next, items, None)
            yield item


class RowWriter:
    """Predictions as CSV, or as JSON (`{"predictions": [...], "failures": [...]}`), a batch at a time."""

    def __init__(self, stream: TextIO, label_names: tuple[str, ...], as_json: bool):
        self.stream, self.label_names, self.as_json, self.rows = stream, label_names, as_json, 0
        if as_json:
            stream.write('{"predictions": [')
        else:
            self.csv = csv.DictWriter(
                stream,
                fieldnames=["source", "face", "time", "x", "y", "width", "height", "emotion", *label_names],
                lineterminator="\n",
            )
            self.csv.writeheader()

    def write(self, faces: list[Face], probabilities: np.ndarray) -> None:
        rows = [self.row(face, p) for face, p in zip(faces, probabilities, strict=True)]
        if not self.as_json:
            self.csv.writerows(rows)
        elif rows:
            separator = ",\n  " if self.rows else "\n  "
            self.stream.write(separator + ",\n  ".join(json.dumps(row) for row in rows))
        self.rows += len(rows)

    def row(self, face: Face, probabilities: np.ndarray) -> dict:
        x, y, w, h = face.box if face.box else ("", "", "", "")
        return {
            "source": face.source,
            "face": face.index,
            "time": "" if face.time is None else face.time,
            "x": x,
            "y": y,
            "width": w,
            "height": h,
            "emotion": self.label_names[int(np.argmax(probabilities))],
            **{name: round(float(p), 6) for name, p in zip(self.label_names, probabilities, strict=True)},
        }

    def close(self, failures: list[tuple[str, str]]) -> None:
        if self.as_json:
            listed = [json.dumps({"source": source, "reason": reason}) for source, reason in failures]
            self.stream.write('\n], "failures": [' + ",".join("\n  " + item for item in listed) + "\n]}\n")


def predict_to(
    model,
    paths: list[Path],
    stream: TextIO,
    as_json: bool = False,
    batch_size: int = BATCH_SIZE,
    label_names: tuple[str, ...] | None = None,
    fps: float = FRAMES_PER_SECOND,
    annotate: Path | None = None,
    plot: Path | None = None,
) -> Report:
    """Predict every face in `paths`, writing its row to `stream` as its batch is done, under a progress bar;
    with `annotate`, then draw each picture's faces and what was said of them into that folder; with
    `plot`, each video's expressions over time into that PNG."""
    from tqdm import tqdm

    from ferpipe.tools import annotate as annotation
    from ferpipe.tools.timeline import timeline_png

    report = Report()
    names = tuple(label_names or default_label_names(model.output_shape[-1]))
    writer = RowWriter(stream, names, as_json)
    drawn: list = []
    frames: list = []
    with tqdm(desc="predicting", unit=" input", mininterval=1, disable=None) as bar:  # shown at a terminal only
        if not bar.disable:
            bar.reset(total=count_inputs(paths))
        for batch, probabilities in predicted_batches(model, paths, batch_size, report, fps):
            writer.write(batch.faces, probabilities)
            if annotate:
                drawn += annotation.predictions_of(batch.faces, probabilities, names)
            if plot:
                frames += [
                    (face, p) for face, p in zip(batch.faces, probabilities, strict=True) if face.time is not None
                ]
            bar.update(batch.inputs)
    writer.close(report.failures)
    if annotate:
        annotation.annotate(drawn, annotate, report.notes)
    if plot and not timeline_png(frames, names, plot):
        report.notes.append((str(plot), "not drawn: no face in a sampled video frame"))
    return report


@dataclass
class Results(Report):
    """Every prediction held in memory: for callers in Python on small inputs (tests, the registry's checks)."""

    faces: list[Face] | None = None
    probabilities: np.ndarray | None = None
    label_names: tuple[str, ...] = EMOTIONS


def predict(
    model, paths: list[Path], batch_size: int = BATCH_SIZE, label_names: tuple[str, ...] | None = None
) -> Results:
    faces: list[Face] = []
    results = Results(faces=faces, label_names=tuple(label_names or default_label_names(model.output_shape[-1])))
    parts = []
    for batch, probabilities in predicted_batches(model, paths, batch_size, results):
        faces += batch.faces
        parts.append(probabilities)
    results.probabilities = np.concatenate(parts) if faces else None
    return results


def write(results: Results, stream: TextIO, as_json: bool = False) -> None:
    writer = RowWriter(stream, results.label_names, as_json)
    if results.faces and results.probabilities is not None:
        writer.write(results.faces, results.probabilities)
    writer.close(results.failures)
