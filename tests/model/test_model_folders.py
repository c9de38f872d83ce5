"""A model folder is data, never code: ferpipe loads the MLflow models it logged from their files
(network, class names, calibration) and never unpickles `python_model.pkl`, which would run
whatever the file holds; a folder that is not ferpipe's is refused in one line."""

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from ferpipe import packaged
from ferpipe.cli import app
from tests.conftest import random_faces

pytestmark = pytest.mark.slow  # MLflow saves and loads models


class Hostile:
    """Unpickled, it makes a file: what any code in a pickle could do instead."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def logged(tmp_path) -> Path:
    """The packaged model saved as ferpipe logs a trained one, and a face to predict."""
    from ferpipe.tools.register_packaged import as_mlflow_model

    Image.fromarray(random_faces(1, seed=4).reshape(48, 48)).save(tmp_path / "face.png")
    return Path(as_mlflow_model("fer2013", save_to=tmp_path / "model"))


def predicted(folder: Path, *extra: str):
    result = CliRunner().invoke(app, ["predict", str(folder), str(folder.parent / "face.png"), *extra])
    return result.exit_code, result.output


def test_a_hostile_pickle_in_a_model_folder_is_never_run(logged, tmp_path):
    import mlflow

    pickled = logged / yaml.safe_load((logged / "MLmodel").read_text())["flavors"]["python_function"]["python_model"]
    pickled.write_bytes(pickle.dumps(Hostile(tmp_path / "ran")))
    code, output = predicted(logged, "-o", str(tmp_path / "out.json"))
    assert code == 0, output
    assert not (tmp_path / "ran").exists()
    network, meta = packaged.load()
    face = np.asarray(Image.open(tmp_path / "face.png")).reshape(1, 48, 48, 1)
    (row,) = json.loads((tmp_path / "out.json").read_text())["predictions"]
    np.testing.assert_allclose([row[n] for n in meta["label_names"]], network.predict_on_batch(face)[0], atol=1e-6)

    from ferpipe.tools.serve import app_for

    app_for(str(logged))  # the server's loading too
    assert not (tmp_path / "ran").exists()
    with pytest.raises(AttributeError):  # what MLflow's own loader does with the same folder: it runs
        mlflow.pyfunc.load_model(str(logged))
    assert (tmp_path / "ran").exists()


def test_a_folder_that_is_not_ferpipes_is_refused_in_one_line(logged):
    mlmodel = yaml.safe_load((logged / "MLmodel").read_text())
    foreign = dict(mlmodel, flavors={"python_function": {"loader_module": "mlflow.sklearn", "model_path": "m.pkl"}})
    (logged / "MLmodel").write_text(yaml.safe_dump(foreign))
    code, output = predicted(logged)
    assert code == 1 and "not a model ferpipe logged" in output and len(output.splitlines()) == 1, output

    escaping = dict(mlmodel)
    escaping["flavors"]["python_function"]["artifacts"]["lite_network"]["path"] = "../../../etc/passwd"
    (logged / "MLmodel").write_text(yaml.safe_dump(escaping))
    code, output = predicted(logged)
    assert code == 1 and "'lite_network' is not a file inside the model folder" in output, output


@pytest.mark.parametrize(
    "content, reason",
    [
        ('{"temperature": -1.0, "tta": "none"}', "temperature must be a finite number above 0, not -1.0"),
        ('{"temperature": NaN}', "not nan"),
        ('{"temperature": 1.2, "tta": "upside_down"}', "tta must be one of"),
        ("not json", "not a calibration file"),
    ],
)
def test_a_bad_calibration_file_is_refused_naming_it(logged, content, reason):
    (logged / "calibration.json").write_text(content)
    code, output = predicted(logged)
    assert code == 1 and f"{logged / 'calibration.json'}: " in output and reason in output, output
    assert len(output.splitlines()) == 1, output


def test_a_model_not_yet_calibrated_says_so(logged):
    (logged / "calibration.json").unlink()
    code, output = predicted(logged)
    assert code == 0 and "has no calibration.json (not evaluated yet): its answers are not calibrated" in output


def test_a_bare_network_trained_on_synthetic_data_says_so(tmp_path):
    shutil.copyfile(packaged.packaged().folder / "model.tflite", tmp_path / "model.tflite")
    Image.fromarray(random_faces(1).reshape(48, 48)).save(tmp_path / "face.png")
    record = {
        "data": "synthetic",
        "labels": "fer2013",
        "label_names": list(packaged.packaged().metadata["label_names"]),
    }
    (tmp_path / "model.json").write_text(json.dumps(record))
    result = CliRunner().invoke(app, ["predict", str(tmp_path / "model.tflite"), str(tmp_path / "face.png")])
    assert result.exit_code == 0 and "was trained on SYNTHETIC data" in result.output, result.output
    (tmp_path / "model.json").write_text(json.dumps({**record, "data": "imaginary"}))
    result = CliRunner().invoke(app, ["predict", str(tmp_path / "model.tflite"), str(tmp_path / "face.png")])
    assert result.exit_code == 1 and f"{tmp_path / 'model.json'}: data: 'imaginary'" in result.output


def test_a_keras_network_that_runs_code_is_refused_in_one_line_without_tensorflows_noise(logged):
    from tests.model.test_predict import lambda_model

    mlmodel = yaml.safe_load((logged / "MLmodel").read_text())
    lambda_model(logged / "artifacts" / "lambda.keras")
    mlmodel["flavors"]["python_function"]["artifacts"] = {"network": {"path": "artifacts/lambda.keras"}}
    (logged / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    import subprocess
    import sys

    done = subprocess.run(  # a process of its own: TensorFlow's C++ lines go to the real stderr
        [sys.executable, "-m", "ferpipe", "predict", str(logged), str(logged.parent / "face.png")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1 and "lambda.keras: cannot be loaded as a Keras model" in done.stderr, done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr


def test_serving_the_packaged_model_leaves_no_temporary_folder():
    import tempfile

    from ferpipe.tools.serve import app_for

    before = set(Path(tempfile.gettempdir()).glob("ferpipe-packaged-*"))
    app_for(None)
    assert set(Path(tempfile.gettempdir()).glob("ferpipe-packaged-*")) == before
