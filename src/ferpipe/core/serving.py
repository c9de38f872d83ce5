"""The trained network as MLflow logs, registers and serves it: a pyfunc model around the Keras
file that checks its input and answers with class names beside the probabilities.

Input: pixels as numbers 0..255, shape (N, 48, 48, 1), through any of MLflow's formats
(`{"inputs": [...]}` for `mlflow models serve`). Pixels travel as float32 in the signature so
that a value such as 12.5 arrives as it was sent and is refused, instead of being truncated
to 12 on the way in. Output: one row per face, the predicted `emotion` and one probability
column per class, in the model's class order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel

from ferpipe.core.schema import IMAGE_SIDE

NETWORK = "network"  # the artifact holding the Keras file
FACE_SHAPE = (IMAGE_SIDE, IMAGE_SIDE, 1)


def signature(label_names: list[str]):
    """`faces` in, `emotion` and one probability per class out. The input's shape is left open
    in the signature and checked here, so a wrong one gets a one-line answer rather than
    MLflow's, which quotes the whole request back."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema, TensorSpec

    return ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, -1, -1, -1), name="faces")]),
        outputs=Schema([ColSpec("string", "emotion"), *(ColSpec("double", name) for name in label_names)]),
    )


class ExpressionModel(PythonModel):
    # MLflow would wrap `predict` to validate inputs by its type hints, and warn that it has none;
    # the signature and faces_from do that job here. (MLflow's own flag, for its ChatModel: a
    # warnings filter cannot silence the advice, MLflow resets the filters around it.)
    _skip_type_hint_validation = True

    def load_context(self, context) -> None:
        import keras

        self.network = keras.saving.load_model(context.artifacts[NETWORK])
        self.label_names = list(context.model_config["label_names"])

    def predict(self, context, model_input, params=None) -> pd.DataFrame:
        return answer(self.network.predict(faces_from(model_input), verbose=0), self.label_names)


def faces_from(model_input) -> np.ndarray:
    """(N, 48, 48, 1) uint8 faces, or an MlflowException (HTTP 400) whose message fits on a line."""
    if isinstance(model_input, dict):  # the signature's one named tensor
        model_input = model_input.get("faces", next(iter(model_input.values()), None))
    values = np.asarray(model_input.to_numpy() if isinstance(model_input, pd.DataFrame) else model_input)
    if values.ndim != 4 or values.shape[1:] != FACE_SHAPE:
        refuse(f"expected faces of shape (N, {IMAGE_SIDE}, {IMAGE_SIDE}, 1), got {values.shape}")
    if not np.issubdtype(values.dtype, np.number):
        refuse(f"expected pixel numbers, got {values.dtype}")
    bad = ~np.isfinite(values) | (values < 0) | (values > 255) | (values != np.round(values))
    if bad.any():
        face, y, x, _ = np.argwhere(bad)[0]
        refuse(f"pixels must be integers 0..255: face {face}, row {y}, column {x} is {values[face, y, x, 0].item()!r}"
               f" ({int(bad.sum())} such value(s))")
    return values.astype(np.uint8)


def refuse(message: str) -> None:
    raise MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def answer(probabilities: np.ndarray, label_names: list[str]) -> pd.DataFrame:
    table = pd.DataFrame(np.asarray(probabilities, dtype=np.float64), columns=label_names)
    table.insert(0, "emotion", [label_names[i] for i in np.argmax(probabilities, axis=1)])
    return table
