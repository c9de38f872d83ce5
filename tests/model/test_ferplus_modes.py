"""A tiny run in each FER+ label mode: 8 classes from data to model to metrics, registered apart."""

import json
from pathlib import Path

import mlflow
import numpy as np
import pytest

from ferpipe.convert.stage import convert
from ferpipe.core.schema import FERPLUS_CLASSES
from ferpipe.evaluate.stage import evaluate
from ferpipe.ingest.stage import ingest
from ferpipe.synthesize.stage import write_synthetic_csv
from ferpipe.tools.models import label_names_in, load_predictor
from ferpipe.train.stage import train
from tests.conftest import config_of
from tests.model.conftest import TINY

pytestmark = pytest.mark.slow  # TensorFlow models, trained or served

ROWS = {"Training": 280, "PublicTest": 70, "PrivateTest": 70}


@pytest.mark.parametrize("mode", ["ferplus_majority", "ferplus_probability"])
def test_tiny_run_trains_evaluates_and_registers_eight_class_model(mode, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    write_synthetic_csv(Path("fer2013.csv"), config_of("synthetic", rows=ROWS), Path("fer2013new.csv"))
    ingest(config_of("ingest", source="fer2013.csv", labels=mode, ferplus_votes="fer2013new.csv"))
    manifest = convert()
    tracking = config_of("tracking", experiment="tests")
    train(TINY, tracking)
    metrics = evaluate(config_of("evaluate", bootstrap_samples=50), tracking)

    assert manifest["targets"] == ("soft" if mode == "ferplus_probability" else "hard")
    assert metrics["labels"] == mode and metrics["evaluated_on"] == "ferplus_majority"
    assert list(metrics["test"]["per_class"]) == list(FERPLUS_CLASSES)
    assert metrics["test"]["rows"] == manifest["splits"]["test"]["count"] < ROWS["PrivateTest"]
    assert metrics["all_zeros_binary_accuracy"] == pytest.approx(7 / 8)
    agreement = metrics["agreement_with_fer2013_labels"]
    assert 0 <= agreement["model"] <= 1 and agreement["ferplus_label"] > 0.9  # synthetic votes follow the labels
    predictions = Path("reports/eval/predictions.csv").read_text().splitlines()
    assert predictions[0] == "actual,predicted" and len(predictions) == metrics["test"]["rows"] + 1

    (run,) = mlflow.search_runs(experiment_names=["tests"], output_format="list")
    assert run.data.tags["labels"] == mode
    assert run.data.metrics["eval.agreement_with_fer2013_labels.model"] == pytest.approx(agreement["model"])
    client = mlflow.MlflowClient()
    (version,) = client.search_model_versions("name='fer2013-expression-ferplus-synthetic'")
    assert version.run_id == run.info.run_id and version.tags["labels"] == mode
    assert client.search_model_versions("name='fer2013-expression-synthetic'") == []
    reference = f"models:/fer2013-expression-ferplus-synthetic/{version.version}"
    assert label_names_in(load_predictor(reference)[1]) == FERPLUS_CLASSES
    answers = mlflow.pyfunc.load_model(reference).predict(np.load("data/arrays/x_test.npy")[:2].astype(np.float32))
    assert list(answers.columns) == ["emotion", *FERPLUS_CLASSES] and set(answers["emotion"]) <= set(FERPLUS_CLASSES)
    assert json.loads(Path("reports/data/data_report.json").read_text())["labels"]["mode"] == mode
