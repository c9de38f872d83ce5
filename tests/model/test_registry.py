"""Registration, alias promotion with its gate, rollback and loading by alias, against a real
`mlflow server` started on 127.0.0.1 with a SQLite backend and a local artifact root."""

import base64
import json
import os
import subprocess
import sys
import urllib.request
from dataclasses import replace
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient
from typer.testing import CliRunner

from ferpipe.cli import app
from ferpipe.core import registry
from ferpipe.core.paths import TrainOutputs
from ferpipe.core.schema import EMOTIONS
from ferpipe.evaluate.stage import evaluate
from ferpipe.train.stage import train
from tests.conftest import REPO_ROOT, config_of, free_ports, wait_until_up
from tests.model.conftest import TINY

pytestmark = pytest.mark.slow  # TensorFlow models, trained or served

NAME = "fer2013-expression-synthetic"  # the stage registers synthetic-data models under this name


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("server")
    (port,) = free_ports(1)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{folder / 'mlflow.db'}",
            "--artifacts-destination",
            str(folder / "artifacts"),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(folder / "server.log", "w"),
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_up(f"{url}/health", server, folder / "server.log")
    yield url
    server.terminate()
    server.wait(timeout=30)


@pytest.fixture
def on_server(workspace, mlflow_server, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    mlflow.set_tracking_uri(mlflow_server)
    return workspace


def write_params(**tracking) -> None:
    values = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    values["tracking"].update(experiment="registry-tests", **tracking)
    Path("params.yaml").write_text(yaml.safe_dump(values))


def aliases() -> dict[str, str]:
    return {alias: str(version) for alias, version in MlflowClient().get_registered_model(NAME).aliases.items()}


def another_version(of: str, val_accuracy: float) -> str:
    """A further challenger with the same network, as another evaluated run would register (the
    registry takes a logged model once, so the test copies a version)."""
    client = MlflowClient()
    copy = client.copy_model_version(f"models:/{NAME}/{of}", NAME)
    client.set_model_version_tag(NAME, copy.version, "val_accuracy", str(val_accuracy))
    client.set_registered_model_alias(NAME, registry.CHALLENGER, copy.version)
    return str(copy.version)


def test_evaluated_models_become_versions_and_promotion_is_gated(on_server):
    tracking = config_of("tracking", experiment="registry-tests")
    train(replace(TINY, epochs=4), tracking)
    metrics = evaluate(config_of("evaluate", bootstrap_samples=100), tracking)
    client = MlflowClient()
    first = client.get_model_version_by_alias(NAME, "challenger")
    assert float(first.tags["val_accuracy"]) == pytest.approx(metrics["val_accuracy"])
    assert first.tags["data"] == "synthetic" and first.tags["dataset_sha256"]
    assert "mlflow.source.git.commit" in first.tags
    model_uri = json.loads(Path(TrainOutputs.run).read_text())["model_uri"]
    # Registering the same model again (evaluate retried) retags its version; it adds none.
    assert registry.register(model_uri, NAME, {**first.tags, "evaluate.tta": "flip"}) == first.version
    assert [v.version for v in client.search_model_versions(f"name = '{NAME}'")] == [first.version]
    assert client.get_model_version(NAME, first.version).tags["evaluate.tta"] == "flip"

    runner = CliRunner()
    write_params()
    result = runner.invoke(app, ["promote", "--data", "synthetic"])
    assert result.exit_code == 0, result.output
    assert "no champion yet" in result.output and aliases()["champion"] == first.version

    better = another_version(first.version, metrics["val_accuracy"] + 0.05)
    result = runner.invoke(app, ["promote", "--data", "synthetic"])
    assert result.exit_code == 0 and "better" in result.output
    assert aliases()["champion"] == better

    worse = another_version(first.version, metrics["val_accuracy"] - 0.10)
    result = runner.invoke(app, ["promote", "--data", "synthetic"])
    assert result.exit_code == 2 and "refused" in result.output
    assert aliases() == {"champion": better, "challenger": worse}
    assert "refused" in client.get_model_version(NAME, worse).tags["promotion_refused"]

    result = runner.invoke(app, ["promote", "--data", "synthetic", "--force"])
    assert result.exit_code == 0 and "--force" in result.output
    assert aliases()["champion"] == worse

    result = runner.invoke(app, ["rollback", "--data", "synthetic"])
    assert result.exit_code == 0, result.output
    assert aliases()["champion"] == better

    # A challenger must clear the configured margin, not just edge ahead.
    edge = another_version(first.version, metrics["val_accuracy"] + 0.051)
    write_params(promotion_margin=0.01)
    result = runner.invoke(app, ["promote", "--data", "synthetic"])
    assert result.exit_code == 2 and "required margin +0.0100" in result.output
    assert aliases() == {"champion": better, "challenger": edge}

    # A fresh process loads the champion by alias over HTTP and predicts, as a server does: with
    # the LiteRT network logged beside the Keras one, so without TensorFlow.
    images = np.load("data/arrays/x_test.npy")[:4]
    np.save("images.npy", images)
    code = (
        f"import sys, mlflow, numpy as np; m = mlflow.pyfunc.load_model('models:/{NAME}@champion'); "
        "a = m.predict(np.load('images.npy').astype('float32')); "
        "print(a.shape, list(a.columns), [m for m in ('tensorflow', 'keras') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == f"(4, 8) {['emotion', *EMOTIONS]} []"


def test_served_champion_answers_like_predict(on_server, mlflow_server, tmp_path):
    tracking = config_of("tracking", experiment="registry-tests")
    train(replace(TINY, epochs=2), tracking)
    evaluate(config_of("evaluate", bootstrap_samples=50), tracking)
    registry.promote(NAME, "val_accuracy", margin=0.0, force=True)

    faces = np.load("data/arrays/x_test.npy")[:5]
    for i, face in enumerate(faces):
        from PIL import Image

        Image.fromarray(face[..., 0]).save(tmp_path / f"face_{i}.png")
    import keras

    from ferpipe.tools.models import load_model, load_predictor
    from ferpipe.tools.predict import predict

    champion, metadata = load_predictor(f"models:/{NAME}@champion")
    assert metadata["data"] == "synthetic" and metadata["label_names"] == list(EMOTIONS)
    expected = predict(champion, sorted(tmp_path.glob("face_*.png"))).probabilities
    assert isinstance(load_model(f"models:/{NAME}@champion"), keras.Model)  # what ensembles build on, still Keras
    # ... with the LiteRT network logged beside the Keras one: no TensorFlow in the process, and
    # the same answers as the server below.
    script = (
        "import sys; from typer.testing import CliRunner; from ferpipe.cli import app; "
        f"result = CliRunner().invoke(app, ['predict', 'models:/{NAME}@champion', {str(tmp_path / 'face_0.png')!r}]); "
        "print(result.exit_code, [m for m in ('tensorflow', 'keras') if m in sys.modules])"
    )
    shown = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "MLFLOW_TRACKING_URI": mlflow_server},
    )
    assert shown.stdout.strip().splitlines()[-1] == "0 []", shown.stdout[-2000:] + shown.stderr[-2000:]

    (port,) = free_ports(1)
    log = open(tmp_path / "serve.log", "w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            f"models:/{NAME}@champion",
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "MLFLOW_TRACKING_URI": mlflow_server},
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/ping", server, tmp_path / "serve.log")
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=json.dumps({"inputs": faces.tolist()}).encode(),
            headers={"Content-Type": "application/json"},
        )
        answer = json.loads(urllib.request.urlopen(request, timeout=60).read())
        # The manual's curl (docs/prediction.md): the request body kept in the repository.
        readme_request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=(REPO_ROOT / "examples/request.json").read_bytes(),
            headers={"Content-Type": "application/json"},
        )
        (example,) = json.loads(urllib.request.urlopen(readme_request, timeout=60).read())["predictions"]
        compact_request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=(REPO_ROOT / "examples/request_compact.json").read_bytes(),
            headers={"Content-Type": "application/json"},
        )
        (compact_example,) = json.loads(urllib.request.urlopen(compact_request, timeout=60).read())["predictions"]
        raw = [base64.b64encode(face.tobytes()).decode() for face in faces]
        compact = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=json.dumps({"inputs": {"faces": raw}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        compact_answer = json.loads(urllib.request.urlopen(compact, timeout=60).read())
        fractional = faces[:1].astype(float)
        fractional[0, 3, 7, 0] = 12.5
        refused = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=json.dumps({"inputs": fractional.tolist()}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as rejected:
            urllib.request.urlopen(refused, timeout=60)
        body = rejected.value.read().decode()
    finally:
        server.terminate()
        server.wait(timeout=30)
    served = pd.DataFrame(answer["predictions"])
    assert list(served.columns) == ["emotion", *EMOTIONS]
    np.testing.assert_allclose(served[list(EMOTIONS)].to_numpy(), expected, rtol=1e-4, atol=1e-6)
    assert served["emotion"].tolist() == [EMOTIONS[i] for i in expected.argmax(axis=1)]
    assert example["emotion"] in EMOTIONS and sum(example[name] for name in EMOTIONS) == pytest.approx(1, abs=1e-4)
    assert compact_example == example  # the manual's two request files hold the same face
    assert compact_answer == answer
    # MLflow puts a view of the input before the message, cut short by numpy whatever the request's size.
    assert rejected.value.code == 400 and "face 0, row 3, column 7 is 12.5" in body and len(body) < 2000
