"""`ferpipe ship`: only a real-data registered version becomes the packaged model."""

import json
from dataclasses import replace

import pytest

from ferpipe.core.schema import FER2013_ROWS
from ferpipe.evaluate.stage import evaluate
from ferpipe.tools.ship import ship
from ferpipe.train.stage import train
from tests.conftest import config_of
from tests.model.conftest import TINY

pytestmark = pytest.mark.slow  # a TensorFlow model, trained


def test_a_model_trained_on_synthetic_data_is_never_shipped(workspace, tmp_path):
    tracking = config_of("tracking", experiment="ship-tests")
    train(replace(TINY, epochs=1), tracking)
    evaluate(config_of("evaluate", bootstrap_samples=20), tracking)
    with pytest.raises(ValueError, match="trained on synthetic data, not the real FER2013"):
        ship("models:/fer2013-expression-synthetic@challenger", root=tmp_path / "packaged")
    assert not (tmp_path / "packaged").exists()
    with pytest.raises(ValueError, match="name a registered version"):
        ship("models/model.keras", root=tmp_path / "packaged")


def as_real(workspace) -> str:
    """The challenger, relabelled as a real-data version for these tests only: the rules are the same
    whatever the data. Its reference."""
    import mlflow

    from ferpipe.core.arrays import read_manifest

    client, name = mlflow.MlflowClient(), "fer2013-expression-synthetic"
    version = client.get_model_version_by_alias(name, "challenger").version
    client.set_model_version_tag(name, version, "data", "real")
    client.set_model_version_tag(
        name, version, "dataset_sha256", read_manifest(workspace / "data/arrays")["source_sha256"]
    )
    return f"models:/{name}/{version}"


def test_a_worse_model_or_part_of_privatetest_never_replaces_the_packaged_one(workspace, tmp_path, monkeypatch):
    import numpy as np

    from ferpipe.core.arrays import load_split
    from ferpipe.packaged import load
    from ferpipe.tools import ship as shipping

    tracking, arrays, root = config_of("tracking", experiment="ship-tests"), workspace / "data/arrays", tmp_path / "p"
    train(replace(TINY, epochs=1), tracking)
    evaluate(config_of("evaluate", bootstrap_samples=20), tracking)
    first = as_real(workspace)
    with pytest.raises(ValueError, match=r"test split holds 70 PrivateTest faces, not the whole 3589"):
        ship(first, arrays=arrays, root=root)
    monkeypatch.setitem(FER2013_ROWS, "PrivateTest", 70)  # the small data set's whole PrivateTest
    kept = ship(first, arrays=arrays, root=root, quantization="none")
    shipped = (root / "fer2013" / "model.tflite").read_bytes()

    # The rule, on the packaged file itself: scored on faces it answers all right, a candidate that
    # answers half of them right is refused, with both figures; one as good is not.
    faces = np.asarray(load_split(arrays, "test")[0])
    network, _ = load("fer2013", root=root)
    answers = network.predict_on_batch(faces).argmax(axis=1)
    half = np.arange(len(faces)) % 2 == 0
    with pytest.raises(
        ValueError, match=rf"accuracy 0.5000 as packaged, below the packaged {kept['registered']}'s 1.0000"
    ):
        shipping.check_not_worse("models:/x/2", root / "fer2013", half, faces, answers)
    shipping.check_not_worse("models:/x/2", root / "fer2013", np.ones(len(faces), bool), faces, answers)

    train(replace(TINY, epochs=1, seed=2), tracking)
    evaluate(config_of("evaluate", bootstrap_samples=20), tracking)
    second = as_real(workspace)
    provenance_is_checked(second, arrays, root)

    def fails(*args):
        raise OSError(28, "No space left on device")

    card = shipping.packaged_card
    monkeypatch.setattr(shipping, "packaged_card", fails)  # a write that fails once begun
    with pytest.raises(OSError):
        ship(second, arrays=arrays, root=root, quantization="none", force=True)
    assert (root / "fer2013" / "model.tflite").read_bytes() == shipped
    assert sorted(p.name for p in root.iterdir()) == ["fer2013"]
    monkeypatch.setattr(shipping, "packaged_card", card)

    forced = ship(second, arrays=arrays, root=root, quantization="none", force=True)
    assert json.loads((root / "fer2013" / "metadata.json").read_text())["registered"] == forced["registered"]
    assert forced["registered"] != kept["registered"]
    with pytest.raises(ValueError, match="cannot be written"):
        ship(first, arrays=arrays, root=root / "fer2013" / "model.tflite" / "under-a-file", force=True)


def provenance_is_checked(reference: str, arrays, root) -> None:
    """A version whose run trained uncommitted code, or a commit not in the history, is refused."""
    import mlflow

    client = mlflow.MlflowClient()
    run_id = client.get_model_version(*reference.removeprefix("models:/").split("/")).run_id
    commit = client.get_run(run_id).data.tags["mlflow.source.git.commit"]
    for tag, value, said in [
        ("uncommitted_changes", "true", "had uncommitted changes to the code of"),
        ("uncommitted_changes", "unknown", "recorded no clean state"),
        ("mlflow.source.git.commit", "d531cb4b2f2b66c0bf6eb508c0c61fcc80c3e596", "not in this repository's history"),
    ]:
        before = client.get_run(run_id).data.tags[tag]
        client.set_tag(run_id, tag, value)
        with pytest.raises(ValueError, match=said):
            ship(reference, arrays=arrays, root=root, quantization="none", force=True)
        client.set_tag(run_id, tag, before)
    assert commit and client.get_run(run_id).data.tags["uncommitted_changes"] == "false"


def test_weights_are_quantized_only_within_the_accuracy_rule(workspace, tmp_path, monkeypatch):
    import mlflow
    import numpy as np

    from ferpipe.core.arrays import load_split
    from ferpipe.core.lite import LiteModel
    from ferpipe.tools import ship as shipping

    tracking = config_of("tracking", experiment="ship-tests")
    train(replace(TINY, epochs=1), tracking)
    evaluate(config_of("evaluate", bootstrap_samples=20), tracking)
    monkeypatch.setitem(FER2013_ROWS, "PrivateTest", 70)  # the small data set's whole PrivateTest
    reference = as_real(workspace)
    client, name = mlflow.MlflowClient(), "fer2013-expression-synthetic"
    version = reference.rpartition("/")[2]

    client.set_model_version_tag(name, version, "labels", "ferplus_probability")
    with pytest.raises(ValueError, match="converted with fer2013 labels, but .* ferplus_probability labels"):
        ship(reference, arrays=workspace / "data/arrays", root=tmp_path / "packaged")
    client.set_model_version_tag(name, version, "labels", "fer2013")

    monkeypatch.setattr(shipping, "QUANTIZED_POINTS_LOST", -100.0)  # any quantization "loses too much"
    with pytest.raises(ValueError, match=r"quantized dynamic_int8, PrivateTest accuracy falls from .*--quantize"):
        ship(reference, arrays=workspace / "data/arrays", root=tmp_path / "packaged")
    assert not (tmp_path / "packaged").exists()

    monkeypatch.setattr(shipping, "QUANTIZED_POINTS_LOST", 100.0)
    sizes = {}
    for quantization in ("none", "dynamic_int8"):
        metadata = ship(
            reference, arrays=workspace / "data/arrays", root=tmp_path / quantization, quantization=quantization
        )
        shipped = tmp_path / quantization / "fer2013"
        sizes[quantization] = (shipped / "model.tflite").stat().st_size
        faces, labels = load_split(workspace / "data/arrays", "test")
        raw = LiteModel(shipped / "model.tflite").predict(np.asarray(faces), 256)
        assert metadata["quantization"] == quantization
        assert metadata["test"]["accuracy"] == pytest.approx(np.mean(raw.argmax(axis=1) == labels))  # the file's own
        card = (shipped / "model_card.md").read_text()
        assert (f"quantized {quantization}" in card) == (quantization != "none")
        # Its figures as text, measured on the file itself: no image the package would lack.
        assert (
            "![" not in card and "| true \\ predicted | angry |" in card and "| eyes covered (6, 10, 14 rows) |" in card
        )
    assert sizes["dynamic_int8"] < 0.4 * sizes["none"]


def test_the_packaged_model_registers_and_serves_as_a_trained_one(workspace, tmp_path):
    import json
    import os
    import subprocess
    import sys
    import urllib.request

    import mlflow
    import numpy as np
    from typer.testing import CliRunner

    from ferpipe import packaged
    from ferpipe.cli import app
    from tests.conftest import REPO_ROOT, free_ports, random_faces, wait_until_up

    (workspace / "params.yaml").write_text((REPO_ROOT / "params.yaml").read_text())
    faces = random_faces(3, seed=5).reshape(-1, 48, 48, 1)
    network, metadata = packaged.load()
    expected = network.predict_on_batch(faces)
    runner = CliRunner()
    registered = runner.invoke(app, ["register-packaged"])
    assert registered.exit_code == 0 and "version 1 (challenger)" in registered.output, registered.output
    again = runner.invoke(app, ["register-packaged"])
    assert again.exit_code == 0 and "already registered as version 1; nothing to do" in again.output, again.output
    promoted = runner.invoke(app, ["promote"])
    assert promoted.exit_code == 0 and "champion is now v1" in promoted.output, promoted.output
    version = mlflow.MlflowClient().get_model_version_by_alias("fer2013-expression", "champion")
    assert float(version.tags["test_accuracy"]) == metadata["test"]["accuracy"]
    assert version.tags["dataset_sha256"] == metadata["dataset_sha256"] and version.description.startswith("# Model")
    served = mlflow.pyfunc.load_model("models:/fer2013-expression@champion").predict(faces)
    np.testing.assert_allclose(served[metadata["label_names"]].to_numpy(), expected, atol=1e-6)
    compared = runner.invoke(app, ["compare"])
    assert compared.exit_code == 0 and "packaged-fer2013" in compared.output

    (port,) = free_ports(1)  # and served with one command, no model named
    log = tmp_path / "serve.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "ferpipe", "serve", "--port", str(port)],
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
        env={**os.environ},
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/ping", server, log)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=json.dumps({"inputs": {"faces": faces.tolist()}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        rows = json.loads(urllib.request.urlopen(request, timeout=60).read())["predictions"]
    finally:
        server.terminate()
        server.wait(timeout=30)
    np.testing.assert_allclose([[row[n] for n in metadata["label_names"]] for row in rows], expected, atol=1e-6)
