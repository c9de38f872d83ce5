"""Ensembles: members chosen on val only, the average evaluated, logged and registered like any model."""

import json
import shutil
from dataclasses import replace
from pathlib import Path

import keras
import mlflow
import numpy as np
import pytest

from ferpipe.core.arrays import load_split
from ferpipe.core.paths import TrainOutputs
from ferpipe.models import build_model
from ferpipe.tools.ensemble import EnsembleOutputs, choose_members, ensemble
from ferpipe.train.stage import train
from tests.conftest import config_of
from tests.model.conftest import TINY

pytestmark = pytest.mark.slow  # TensorFlow models, trained or served

TRACKING = config_of("tracking", experiment="tests")


def val_accuracy(probabilities, labels):
    return float(np.mean(np.mean(probabilities, axis=0).argmax(axis=1) == labels))


def test_selection_starts_from_the_best_single_model_and_stops_when_nothing_helps():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, 300)
    candidates = [rng.dirichlet(np.ones(7), 300) for _ in range(6)]
    for candidate in candidates[:4]:  # four useful models, each right on a different random 45%
        right = rng.random(300) < 0.45
        candidate[right, labels[right]] += 1.0
    candidates.append(np.tile(np.eye(7)[0] * 5, (300, 1)))  # always "angry", confidently
    chosen = choose_members(candidates, labels)
    singles = [val_accuracy([c], labels) for c in candidates]
    assert chosen[0] == int(np.argmax(singles))
    accuracy = val_accuracy([candidates[i] for i in chosen], labels)
    assert accuracy > max(singles)
    assert 6 not in chosen
    for left_out in set(range(len(candidates))) - set(chosen):
        assert val_accuracy([candidates[i] for i in chosen + [left_out]], labels) <= accuracy


def test_ensemble_of_two_runs_is_a_registered_model_that_averages_its_members(workspace):
    references = []
    for seed in (1, 2):
        train(replace(TINY, seed=seed), TRACKING)
        references.append(str(shutil.copy(TrainOutputs.model, f"member{seed}.keras")))

    result = ensemble(references, config_of("evaluate", bootstrap_samples=100, tta="flip"), TRACKING, select=False)

    outputs = EnsembleOutputs()
    assert result["members"] == references and result["tta"] == "flip"
    assert json.loads(outputs.members.read_text())["members"] == references
    for path in vars(outputs.evaluation).values():
        assert Path(path).stat().st_size > 0, path
    x_test, _ = load_split("data/arrays", "test")
    members = [keras.saving.load_model(r).predict(x_test, verbose=0) for r in references]
    averaged = keras.saving.load_model(outputs.model).predict(x_test, verbose=0)
    np.testing.assert_allclose(averaged, np.mean(members, axis=0), rtol=1e-5, atol=1e-6)

    run = mlflow.get_run(json.loads(outputs.run.read_text())["run_id"])
    assert run.data.tags["stage"] == "ensemble" and run.data.tags["evaluate.tta"] == "flip"
    assert run.data.metrics["eval.test.accuracy"] == pytest.approx(result["test"]["accuracy"])
    (version,) = mlflow.tracking.MlflowClient().search_model_versions(f"run_id = '{run.info.run_id}'")
    assert version.name == "fer2013-expression-synthetic"


def test_ensemble_without_candidates_says_what_it_needs(workspace):
    with pytest.raises(ValueError, match="at least one model"):
        ensemble([], config_of("evaluate"), TRACKING)


def test_members_must_predict_the_classes_of_the_data(workspace):
    eight_classes = build_model("tiny_cnn", (48, 48, 1), 8)  # a FER+ model against FER2013 arrays
    eight_classes.save("ferplus.keras")
    with pytest.raises(ValueError, match="ferplus.keras: predicts 8 classes, but .* has 7 \\(fer2013 labels\\)"):
        ensemble(["ferplus.keras"], config_of("evaluate"), TRACKING)


def test_a_model_keras_refuses_is_named_in_one_line_with_no_tensorflow_noise(workspace):
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT
    from tests.model.test_predict import lambda_model

    shutil.copy(REPO_ROOT / "params.yaml", "params.yaml")
    lambda_model(Path("lambda.keras"))
    done = subprocess.run(
        [Path(sys.executable).parent / "ferpipe", "ensemble", "lambda.keras"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1
    assert (
        done.stderr.startswith("error: lambda.keras: cannot be loaded as a Keras model (")
        and len(done.stderr.splitlines()) == 1
    ), done.stderr[-3000:]
