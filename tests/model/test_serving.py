"""The logged model as `mlflow models serve` runs it: class names beside the probabilities, and
pixels checked rather than silently truncated."""

import mlflow
import numpy as np
import pytest
from mlflow.exceptions import MlflowException

from ferpipe.core import tracking
from ferpipe.core.schema import EMOTIONS
from ferpipe.models import build_model
from tests.conftest import random_faces

pytestmark = pytest.mark.slow  # TensorFlow models, trained or served


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A tiny network logged as the pipeline logs it, loaded back as MLflow's server loads it."""
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    network = build_model("tiny_cnn", (48, 48, 1), 7)
    faces = random_faces(6).reshape(-1, 48, 48, 1)
    with mlflow.start_run(experiment_id=tracking.configure("serving-tests")):
        uri = tracking.log_model(network, faces[:2], list(EMOTIONS), "synthetic")
    return mlflow.pyfunc.load_model(uri), network, faces


def test_answers_class_names_and_probabilities_like_the_network(served):
    model, network, faces = served
    table = model.predict(faces.astype(np.float32))
    assert list(table.columns) == ["emotion", *EMOTIONS]
    expected = network.predict(faces, verbose=0)
    np.testing.assert_allclose(table[list(EMOTIONS)].to_numpy(), expected, rtol=1e-5, atol=1e-6)
    assert table["emotion"].tolist() == [EMOTIONS[i] for i in expected.argmax(axis=1)]


@pytest.mark.parametrize(("change", "message"), [
    (lambda f: np.where(np.arange(f.size).reshape(f.shape) == 100, 12.5, f), "face 0, row 2, column 4 is 12.5"),
    (lambda f: f - 300, "face 0, row 0, column 0 is -"),
    (lambda f: np.full_like(f, np.nan), "is nan"),
    (lambda f: f[:, :40], "expected faces of shape (N, 48, 48, 1), got (6, 40, 48, 1)"),
])
def test_pixels_that_are_not_integers_0_to_255_are_refused_in_one_short_line(served, change, message):
    model, _, faces = served
    with pytest.raises(MlflowException) as refused:
        model.predict(change(faces.astype(np.float32)))
    assert message in refused.value.message and len(refused.value.message) < 200
    assert "\n" not in refused.value.message
