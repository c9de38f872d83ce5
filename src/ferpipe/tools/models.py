"""The models people name to `ferpipe predict`, the API and `ferpipe serve`, loaded: a `.tflite` or
`.keras` file with what the train stage recorded beside it, an MLflow model that ferpipe logged
(from its files: never unpickled), or the packaged one; and answering in the project's vocabulary.
The Keras network of a model, for what needs Keras itself (ensembles, explanations, benches).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ferpipe.core.entry import quiet_start
from ferpipe.core.inference import Served
from ferpipe.core.schema import EMOTIONS, FERPLUS_CLASSES, IMAGE_SIDE, in_vocabulary

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
