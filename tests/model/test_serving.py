"""The logged model as `mlflow models serve` runs it: class names beside the probabilities, and
pixels checked rather than silently truncated."""

from concurrent.futures import ThreadPoolExecutor

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from ferpipe.core import serving, tracking
from ferpipe.core.lite import LiteModel
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
    assert isinstance(model.unwrap_python_model().network, LiteModel)  # its LiteRT export: no TensorFlow to serve
    table = model.predict(faces.astype(np.float32))
    assert list(table.columns) == ["emotion", *EMOTIONS]
    expected = network.predict(faces, verbose=0)
    np.testing.assert_allclose(table[list(EMOTIONS)].to_numpy(), expected, rtol=1e-5, atol=1e-6)
    assert table["emotion"].tolist() == [EMOTIONS[i] for i in expected.argmax(axis=1)]


def test_concurrent_requests_each_get_their_own_answers(served):
    # MLflow's scoring server runs each request on its own thread against one loaded model.
    model, _, _ = served
    requests = [random_faces(size, seed).reshape(-1, 48, 48, 1) for seed, size in enumerate((1, 3, 8, 2, 5, 13) * 4)]
    expected = [model.predict(faces) for faces in requests]
    with ThreadPoolExecutor(6) as server_threads:
        answers = list(server_threads.map(model.predict, requests))
    for answer, alone in zip(answers, expected, strict=True):
        pd.testing.assert_frame_equal(answer, alone)


def test_a_model_logged_before_the_litert_export_answers_with_its_keras_network(tmp_path, monkeypatch):
    import keras

    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    network = build_model("tiny_cnn", (48, 48, 1), 7)
    network.save(tmp_path / "model.keras")
    faces = random_faces(3).reshape(-1, 48, 48, 1)
    with mlflow.start_run(experiment_id=tracking.configure("serving-tests")):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=serving.ExpressionModel(),
            artifacts={serving.NETWORK: str(tmp_path / "model.keras")},
            model_config={"label_names": list(EMOTIONS)},
            signature=serving.signature(list(EMOTIONS)),
            input_example=faces[:1].astype(np.float32),
            pip_requirements=[],
        )
    model = mlflow.pyfunc.load_model(info.model_uri)
    assert isinstance(model.unwrap_python_model().network, keras.Model)
    np.testing.assert_allclose(
        model.predict(faces)[list(EMOTIONS)].to_numpy(), network.predict(faces, verbose=0), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: np.where(np.arange(f.size).reshape(f.shape) == 100, 12.5, f), "face 0, row 2, column 4 is 12.5"),
        (lambda f: f - 300, "face 0, row 0, column 0 is -"),
        (lambda f: np.full_like(f, np.nan), "is nan"),
        (lambda f: f[:, :40], "expected faces of shape (N, 48, 48, 1), got (6, 40, 48, 1)"),
    ],
)
def test_pixels_that_are_not_integers_0_to_255_are_refused_in_one_short_line(served, change, message):
    model, _, faces = served
    with pytest.raises(MlflowException) as refused:
        model.predict(change(faces.astype(np.float32)))
    assert message in refused.value.message and len(refused.value.message) < 200
    assert "\n" not in refused.value.message


def compact(faces: np.ndarray, as_png: bool = False) -> list[str]:
    """The served model's compact form: base64 of the raw pixels, or a data URI of a PNG."""
    import base64
    import io

    from PIL import Image

    if not as_png:
        return [base64.b64encode(face.astype(np.uint8).tobytes()).decode() for face in faces]
    encoded = []
    for face in faces:
        png = io.BytesIO()
        Image.fromarray(face[..., 0].astype(np.uint8)).save(png, format="PNG")
        encoded.append("data:image/png;base64," + base64.b64encode(png.getvalue()).decode())
    return encoded


@pytest.mark.parametrize("as_png", [False, True], ids=["raw-base64", "png-data-uri"])
def test_compact_faces_answer_exactly_as_their_pixels_do(served, as_png):
    model, network, faces = served
    table = model.predict({"faces": np.array(compact(faces, as_png), dtype=object)})
    expected = network.predict(faces, verbose=0)
    np.testing.assert_allclose(table[list(EMOTIONS)].to_numpy(), expected, rtol=1e-5, atol=1e-6)
    # Python callers need not cast: uint8 pixels, as images are read, are taken as they are.
    np.testing.assert_allclose(
        model.predict(faces.astype(np.uint8))[list(EMOTIONS)].to_numpy(), expected, rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not base64!", "face 0: not base64"),
        ("AAAA", "face 0: 3 bytes of pixels, expected 2304"),
        ("data:image/png,rawbytes", "face 0: a data URI must be base64"),
        ("data:image/png;base64,AAAA", "face 0: not an image"),
        (None, "face 0: the image is 64x64; send 48x48 face crops"),
    ],
)
def test_compact_faces_that_cannot_be_read_are_refused_in_one_short_line(served, text, message):
    model, _, faces = served
    if text is None:  # a PNG of the wrong size
        text = compact(np.zeros((1, 64, 64, 1), np.uint8), as_png=True)[0]
    with pytest.raises(MlflowException) as refused:
        model.predict({"faces": np.array([text], dtype=object)})
    assert message in refused.value.message and len(refused.value.message) < 200
    assert "\n" not in refused.value.message


def test_calibrated_probabilities_agree_everywhere_and_never_change_the_class(tmp_path, monkeypatch):
    # The calibration evaluate fits (a temperature, over the test-time views it measured with),
    # applied alike by the Keras network, its LiteRT export, the served model and `ferpipe predict`.
    from typer.testing import CliRunner

    from ferpipe.cli import app
    from ferpipe.core.inference import Calibration, class_probabilities, scaled

    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    import keras

    keras.utils.set_random_seed(7)
    network = build_model("tiny_cnn", (48, 48, 1), 7)
    faces = random_faces(9, seed=3).reshape(-1, 48, 48, 1)
    calibration = Calibration(temperature=0.2, tta="flip")  # sharpened: a tiny untrained network is unsure
    with mlflow.start_run(experiment_id=tracking.configure("serving-tests")):
        uri = tracking.log_model(network, faces[:2], list(EMOTIONS), "synthetic")
        tracking.log_calibration(uri, calibration)
    raw = class_probabilities(network, faces, 4, "flip")
    expected = scaled(raw, calibration.temperature)
    assert np.abs(expected - raw).max() > 0.05  # the temperature does change the probabilities...
    np.testing.assert_array_equal(expected.argmax(axis=1), raw.argmax(axis=1))  # ... never the class

    network.export(str(tmp_path / "lite.tflite"), format="litert", verbose=False)
    lite = LiteModel(tmp_path / "lite.tflite")
    np.testing.assert_allclose(scaled(class_probabilities(lite, faces, 4, "flip"), 0.2), expected, atol=1e-5)
    served = mlflow.pyfunc.load_model(uri)
    np.testing.assert_allclose(served.predict(faces)[list(EMOTIONS)].to_numpy(), expected, atol=1e-5)
    uncalibrated = served.predict(faces, params={"calibrated": False})[list(EMOTIONS)].to_numpy()
    np.testing.assert_allclose(uncalibrated, raw, atol=1e-5)
    from PIL import Image

    for i, face in enumerate(faces):
        Image.fromarray(face[..., 0]).save(tmp_path / f"face_{i}.png")
    images = [str(tmp_path / f"face_{i}.png") for i in range(len(faces))]
    for option, wanted in (([], expected), (["--raw"], raw)):
        result = CliRunner().invoke(app, ["predict", uri, *images, "-o", str(tmp_path / "out.csv"), *option])
        assert result.exit_code == 0, result.output
        table = pd.read_csv(tmp_path / "out.csv")
        np.testing.assert_allclose(table[list(EMOTIONS)].to_numpy(), wanted, atol=1e-5)
