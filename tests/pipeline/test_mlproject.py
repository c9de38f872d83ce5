"""`mlflow run . -e train -P lr=1e-4 --env-manager local` runs the train stage and logs like `dvc repro`."""

from pathlib import Path

import mlflow
import pytest

from tests.conftest import TINY_ROWS, copy_repository, sh

pytestmark = [pytest.mark.slow, pytest.mark.pipeline]


def test_mlflow_run_train_entry_point_logs_a_run_with_its_parameters(tmp_path):
    copy = copy_repository(tmp_path, {"synthetic": {"rows": TINY_ROWS}})
    for step in (["synthesize"], ["ingest"], ["convert"]):
        sh("ferpipe", *step, cwd=copy)
    package = copy / "src/ferpipe/__init__.py"  # the copy's code, not the installed checkout's, must run
    package.write_text(package.read_text() + "\nimport pathlib\npathlib.Path('ran.txt').write_text(__file__)\n")
    store = f"sqlite:///{copy / 'mlflow.db'}"
    sh(
        "mlflow",
        "run",
        ".",
        "-e",
        "train",
        "-P",
        "lr=1e-4",
        "-P",
        "arch=tiny_cnn",
        "-P",
        "epochs=2",
        "-P",
        "batch_size=32",
        "--env-manager",
        "local",
        "--experiment-name",
        "fer2013",
        cwd=copy,
        env={"MLFLOW_TRACKING_URI": store},
    )
    mlflow.set_tracking_uri(store)
    (run,) = mlflow.search_runs(experiment_names=["fer2013"], output_format="list")
    assert run.info.status == "FINISHED"
    assert float(run.data.params["lr"]) == 0.0001 and run.data.params["arch"] == "tiny_cnn"
    assert run.data.tags["data"] == "synthetic"
    assert "best_val_accuracy" in run.data.metrics
    assert mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model") is not None
    assert (copy / "models/model.keras").exists()
    assert Path((copy / "ran.txt").read_text()).resolve() == package.resolve()
