"""The trained network as MLflow logs, registers and serves it: a pyfunc model around the
network that checks its input and answers with class names beside the probabilities. It runs the
LiteRT export logged with the network (`ferpipe.core.lite`: no TensorFlow in the server), or the
Keras file of a model logged before there was one.

Input, through any of MLflow's formats (`{"inputs": {"faces": [...]}}` for `mlflow models serve`),
one entry per face, as `ferpipe.core.face_requests` reads them: pixels, or compact strings.
The signature declares `faces` as an object tensor of shape (-1,), MLflow's form for "any
value per row", so that both kinds reach `faces_from` as sent: a value such as 12.5 is refused
there, not truncated to 12 on the way in. Output: one row per face, the predicted `emotion` and
one probability column per class, in the model's class order: calibrated, as evaluate measured
them (its test-time views averaged, then scaled by the temperature it fitted on val), unless the
request's params say `"calibrated": false`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PyFuncModel, PythonModel, PythonModelContext

from ferpipe.core.face_requests import FaceRequestError, faces_from
from ferpipe.core.inference import BATCH_SIZE, Calibration, served_probabilities

NETWORK = "network"  # the artifact holding the Keras file (what ensembles average)
LITE_NETWORK = "lite_network"  # the same network for LiteRT: what the model answers with


def signature(label_names: list[str]) -> ModelSignature:
    """`faces` in, `emotion` and one probability per class out; `calibrated: false` asks for the
    network's own probabilities instead of the temperature-scaled ones."""
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema, TensorSpec

    return ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(object), (-1,), name="faces")]),
        outputs=Schema([ColSpec("string", "emotion"), *(ColSpec("double", name) for name in label_names)]),
        params=ParamSchema([ParamSpec("calibrated", "boolean", True)]),
    )


class ExpressionModel(PythonModel):
    # MLflow would wrap `predict` to validate inputs by its type hints, and warn that it has none;
    # the signature and faces_from do that job here. (MLflow's own flag, for its ChatModel: a
    # warnings filter cannot silence the advice, MLflow resets the filters around it.)
    _skip_type_hint_validation = True

    def load_context(self, context: PythonModelContext) -> None:
        self.label_names = list(context.model_config["label_names"])
        # Written beside the model's artifacts by evaluate, once it has fitted the temperature; a model
        # not evaluated yet answers its network's own probabilities (`calibrated` says so).
        recorded = Calibration.read(model_folder(context) / Calibration.FILE)
        self.calibration, self.calibrated = recorded or Calibration(), recorded is not None
        if LITE_NETWORK in context.artifacts:  # no TensorFlow in the server: lighter, faster, the same answers
            from ferpipe.core.lite import LiteModel

            self.network = LiteModel(context.artifacts[LITE_NETWORK])
        else:  # a model logged before the train stage exported one
            from ferpipe.core.entry import quiet_start

            with quiet_start():  # TensorFlow's C++ start-up lines, printed as it loads
                import keras
            try:
                self.network = keras.saving.load_model(context.artifacts[NETWORK], safe_mode=True)
            except Exception as error:  # Keras' many kinds: a Lambda layer refused by safe mode, a bad zip
                reason = " ".join(str(error).split())[:200]
                raise ValueError(
                    f"{context.artifacts[NETWORK]}: cannot be loaded as a Keras model ({reason})"
                ) from None

    # Unannotated on purpose: MLflow reads predict's type hints to infer a signature and to convert
    # inputs by them, and warns at every log_model that `model_input`'s hint is not a list[...]; the
    # model's signature is the explicit one above, and faces_from reads every form it may be sent.
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        raw = (params or {}).get("calibrated", True) is False
        try:
            faces = faces_from(model_input)
        except FaceRequestError as problem:  # MLflow's scoring server answers this one with HTTP 400
            raise MlflowException(str(problem), error_code=INVALID_PARAMETER_VALUE) from None
        probabilities = served_probabilities(self.network, faces, BATCH_SIZE, self.calibration, raw)
        return answer(probabilities, self.label_names)


def model_folder(context: PythonModelContext) -> Path:
    """The logged model's own folder: its artifacts lie in `artifacts/` below it."""
    return Path(next(iter(context.artifacts.values()))).parent.parent


PYFUNC_LOADER = "mlflow.pyfunc.model"  # what MLmodel names for a PythonModel such as ExpressionModel


def load_logged(folder: Path | str) -> PyFuncModel:
    """A model ferpipe logged, loaded from its files alone: its network (LiteRT, or Keras in safe
    mode), class names and calibration. Never its `python_model.pkl`, which `mlflow.pyfunc.load_model`
    unpickles (unpickling runs whatever code the file holds), nor any code the folder carries. A
    folder that is not ferpipe's layout is refused in one line; what MLflow's API returns, so that
    MLflow's scoring server and `predict` take it as they take any pyfunc model."""
    from mlflow.models import Model
    from mlflow.pyfunc import PyFuncModel

    folder = Path(folder)
    if not (folder / "MLmodel").is_file():
        raise ValueError(f"{folder}: no MLmodel file: not an MLflow model folder")
    try:
        logged = Model.load(str(folder))
    except Exception as error:  # YAML's and MLflow's many kinds
        raise ValueError(f"{folder / 'MLmodel'}: cannot be read ({' '.join(str(error).split())[:160]})") from None
    pyfunc = logged.flavors.get("python_function") or {}
    artifacts = pyfunc.get("artifacts") or {}
    config = pyfunc.get("config") or {}  # MLflow writes the model_config it was logged with here
    names = config.get("label_names")
    if (
        pyfunc.get("loader_module") != PYFUNC_LOADER
        or not {LITE_NETWORK, NETWORK} & set(artifacts)
        or not (isinstance(names, list) and names and all(isinstance(name, str) for name in names))
    ):
        raise ValueError(
            f"{folder}: not a model ferpipe logged (its MLmodel names no {LITE_NETWORK} or {NETWORK} artifact "
            "and class names); ferpipe runs only its own models, and never a model's pickled code"
        )
    inside = folder.resolve()
    paths = {}
    for name, info in artifacts.items():
        path = (inside / str((info or {}).get("path", ""))).resolve()
        if not path.is_relative_to(inside) or not path.is_file():
            raise ValueError(f"{folder / 'MLmodel'}: artifact {name!r} is not a file inside the model folder")
        paths[name] = str(path)
    model = ExpressionModel()
    answering = _Answering(model, paths, config)
    try:
        model.load_context(answering.context)
    except ValueError as error:  # a damaged network or calibration file, named in the message
        raise ValueError(f"{folder}: {error}") from None
    if model.network.output_shape[-1] != len(names):
        raise ValueError(
            f"{folder}: its network answers {model.network.output_shape[-1]} classes, MLmodel names {len(names)}"
        )
    return PyFuncModel(model_meta=logged, model_impl=answering)


class _Answering:
    """What a PyFuncModel calls (`predict(data, params=...)`, and `python_model` for
    `unwrap_python_model`), answered by the ExpressionModel."""

    def __init__(self, model: ExpressionModel, artifacts: dict[str, str], config: dict[str, Any]) -> None:
        self.python_model, self.context = model, PythonModelContext(artifacts=artifacts, model_config=config)

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return self.python_model.predict(self.context, model_input, params)


def answer(probabilities: np.ndarray, label_names: list[str]) -> pd.DataFrame:
    table = pd.DataFrame(np.asarray(probabilities, dtype=np.float64), columns=label_names)
    table.insert(0, "emotion", [label_names[i] for i in np.argmax(probabilities, axis=1)])
    return table
