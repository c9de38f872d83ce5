"""Tiny real training runs (tiny_cnn on synthetic faces): determinism, resume, outputs, evaluation."""

import json
from dataclasses import replace
from pathlib import Path

import keras
import mlflow
import numpy as np
import pandas as pd
import pytest

from ferpipe.core.lite import LiteModel
from ferpipe.core.paths import CHECKPOINTS, EvaluateOutputs, TrainOutputs
from ferpipe.evaluate.metrics import bootstrap_interval, seed_binary_accuracy
from ferpipe.evaluate.stage import evaluate
from ferpipe.train import stage as train_module
from ferpipe.train.stage import train
from tests.conftest import config_of, random_faces
from tests.model.conftest import TINY

pytestmark = pytest.mark.slow  # TensorFlow models, trained or served

TRACKING = config_of("tracking", experiment="tests")


def runs(status=None):
    found = mlflow.search_runs(experiment_names=["tests"], output_format="list")
    return [r for r in found if status is None or r.info.status == status]


def test_same_params_give_identical_metrics(workspace):
    first = train(TINY, TRACKING)
    first_history = Path(TrainOutputs.history).read_text()
    second = train(TINY, TRACKING)
    assert Path(TrainOutputs.history).read_text() == first_history
    assert second["best_val_accuracy"] == first["best_val_accuracy"]


def test_training_learns_and_writes_its_outputs(workspace):
    summary = train(replace(TINY, epochs=15), TRACKING)
    # Chance is 1/7; always answering the largest class (happy) scores about 1/4.
    assert summary["epochs"] == 15 and summary["best_val_accuracy"] > 0.35
    history = pd.read_csv(TrainOutputs.history)
    assert {"epoch", "loss", "val_loss", "accuracy", "val_accuracy"} <= set(history.columns)
    model = keras.saving.load_model(TrainOutputs.model)
    assert not model.compiled  # no optimizer state in the tracked model
    faces = random_faces(16, seed=5).reshape(-1, 48, 48, 1)
    np.testing.assert_allclose(
        LiteModel(TrainOutputs.lite_model).predict_on_batch(faces),  # the same network
        model.predict(faces, verbose=0),
        atol=1e-5,
    )
    recorded = json.loads(Path(TrainOutputs.run).read_text())
    run_id = recorded["run_id"]
    # The model logged (and registered by evaluate) is the very files DVC tracks, byte for byte.
    logged = Path(mlflow.artifacts.download_artifacts(recorded["model_uri"]))
    for tracked in (TrainOutputs.model, TrainOutputs.lite_model):
        (copy,) = logged.rglob(tracked.name)
        assert copy.read_bytes() == tracked.read_bytes(), tracked
    run = mlflow.get_run(run_id)
    assert run.data.params["arch"] == "tiny_cnn" and float(run.data.params["lr"]) == pytest.approx(3e-3)
    assert run.data.tags["data"] == "synthetic"
    assert len(mlflow.tracking.MlflowClient().get_metric_history(run_id, "val_accuracy")) == 15
    assert not CHECKPOINTS.exists()  # cleared after success


class Interrupt(Exception):
    pass


def train_interrupted_after(epochs: int, config, monkeypatch) -> None:
    """Train with the stage's callbacks plus one that cuts training off after `epochs` epochs."""
    real_callbacks = train_module.callbacks

    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 == epochs:
                raise Interrupt("power cut")

    with monkeypatch.context() as patch:
        patch.setattr(
            train_module,
            "callbacks",
            lambda config, state, **kwargs: real_callbacks(config, state, **kwargs) + [Stop()],
        )
        with pytest.raises(Interrupt):
            train(config, TRACKING)


def test_rerun_after_interruption_resumes_from_the_last_epoch(workspace, monkeypatch):
    config = replace(TINY, epochs=4)
    train_interrupted_after(2, config, monkeypatch)
    assert len(pd.read_csv(CHECKPOINTS / "history.csv")) == 2
    (failed,) = runs("FAILED")

    summary = train(config, TRACKING)
    assert summary["epochs"] == 4 and summary["epochs_this_run"] == 2  # resumed, not restarted
    assert pd.read_csv(TrainOutputs.history)["epoch"].tolist() == [0, 1, 2, 3]
    assert json.loads(Path(TrainOutputs.run).read_text())["run_id"] == failed.info.run_id
    assert len(runs()) == 1
    # What the model cost: every epoch's seconds, the interrupted run's two included.
    epochs = mlflow.tracking.MlflowClient().get_metric_history(failed.info.run_id, "epoch_seconds")
    assert sorted(epoch.step for epoch in epochs) == [0, 1, 2, 3] and all(epoch.value > 0 for epoch in epochs)
    train_minutes = mlflow.get_run(failed.info.run_id).data.metrics["train_minutes"]
    assert train_minutes == pytest.approx(sum(epoch.value for epoch in epochs) / 60, abs=0.01)


def test_resumed_plateau_schedule_and_early_stopping_behave_as_if_never_interrupted(workspace, monkeypatch):
    # patience 1 and a tiny min_lr: the learning rate is cut several times, across the interruption.
    config = replace(
        TINY,
        epochs=7,
        augment=config_of("train").augment,
        early_stopping_patience=3,
        schedule=replace(config_of("train").schedule, kind="plateau", factor=0.3, patience=1, min_lr=1e-7),
    )
    train(config, TRACKING)
    uninterrupted = pd.read_csv(TrainOutputs.history)
    assert uninterrupted["learning_rate"].nunique() > 1

    train_interrupted_after(3, config, monkeypatch)
    assert train(config, TRACKING)["epochs_this_run"] == len(uninterrupted) - 3
    pd.testing.assert_frame_equal(pd.read_csv(TrainOutputs.history), uninterrupted)


def test_a_weight_average_is_what_is_validated_kept_and_resumed(workspace, monkeypatch):
    config = replace(TINY, epochs=4, ema=0.8)
    summary = train(config, TRACKING)
    averaged = pd.read_csv(TrainOutputs.history)
    # The kept model is the average that scored best on validation, not the raw weights of that epoch.
    x_val, y_val = np.load("data/arrays/x_val.npy"), np.load("data/arrays/y_val.npy")
    kept = keras.saving.load_model(TrainOutputs.model).predict(x_val.reshape(-1, 48, 48, 1), verbose=0)
    assert (kept.argmax(axis=1) == y_val).mean() == pytest.approx(summary["best_val_accuracy"])
    train(replace(config, ema=0.0), TRACKING)
    assert not np.allclose(pd.read_csv(TrainOutputs.history)["val_loss"], averaged["val_loss"])

    train_interrupted_after(2, config, monkeypatch)
    assert train(config, TRACKING)["epochs_this_run"] == 2
    pd.testing.assert_frame_equal(pd.read_csv(TrainOutputs.history), averaged)


def test_an_unreadable_checkpoint_means_a_fresh_start_not_a_crash(workspace, monkeypatch):
    config = replace(TINY, epochs=3)
    train_interrupted_after(2, config, monkeypatch)
    (CHECKPOINTS / "backup/latest.weights.h5").write_bytes(b"half-written")
    assert train(config, TRACKING)["epochs_this_run"] == 3


def test_changed_params_do_not_resume_a_stale_checkpoint(workspace, monkeypatch):
    train_interrupted_after(1, replace(TINY, epochs=3), monkeypatch)
    summary = train(replace(TINY, epochs=3, lr=1e-3), TRACKING)
    assert summary["epochs_this_run"] == 3
    assert len(runs()) == 2


def test_run_of_a_killed_training_is_marked_failed_not_left_running(workspace):
    # What `kill -9` before the first checkpoint leaves: a RUNNING run, recorded in the state file.
    from ferpipe.core import tracking

    experiment_id = tracking.configure(TRACKING.experiment)
    orphan = mlflow.tracking.MlflowClient().create_run(experiment_id).info.run_id
    state = CHECKPOINTS
    state.mkdir(parents=True)
    (state / "state.json").write_text(json.dumps({"fingerprint": "x", "run_id": orphan}))
    train(replace(TINY, epochs=1), TRACKING)
    assert mlflow.get_run(orphan).info.status == "FAILED"
    assert {r.info.status for r in runs()} == {"FAILED", "FINISHED"}


def test_evaluation_reports_honest_metrics_into_the_same_mlflow_run(workspace):
    train(replace(TINY, epochs=4), TRACKING)
    metrics = evaluate(config_of("evaluate", bootstrap_samples=200), TRACKING)
    test = metrics["test"]
    low, high = test["accuracy_ci95"]
    assert low <= test["accuracy"] <= high
    assert test["rows"] == 70 and set(test["per_class"]) == {
        "angry",
        "disgust",
        "fear",
        "happy",
        "sad",
        "surprise",
        "neutral",
    }
    assert metrics["all_zeros_binary_accuracy"] == pytest.approx(6 / 7)
    assert metrics["seed_binary_accuracy"] > test["accuracy"]
    for path in vars(EvaluateOutputs()).values():
        assert Path(path).stat().st_size > 0, path
    assert json.loads(Path(EvaluateOutputs.details).read_text()) == metrics
    headline = json.loads(Path(EvaluateOutputs.metrics).read_text())
    assert (
        headline["test_accuracy"] == metrics["test"]["accuracy"] and headline["ci95_low"] <= headline["test_accuracy"]
    )
    (run,) = runs()
    assert run.data.metrics["eval.test.accuracy"] == pytest.approx(test["accuracy"])
    assert "eval.seed_binary_accuracy" in run.data.metrics
    assert "eval.test.accuracy_ci95.low" in run.data.metrics
    artifacts = [a.path for a in mlflow.tracking.MlflowClient().list_artifacts(run.info.run_id, "evaluation")]
    assert "evaluation/confusion_matrix.png" in artifacts and "evaluation/model_card.md" in artifacts
    assert metrics["calibration"]["fitted_on"] == "val (PublicTest)"
    assert headline["ece"] == metrics["calibration"]["before"]["ece"] and headline["temperature"] > 0

    # The model card: every figure in it is one of the metrics, as evaluate computed it.
    import re

    from ferpipe.core.tracking import flatten
    from ferpipe.evaluate.card import figure

    card = Path(EvaluateOutputs.card).read_text()
    assert card.startswith("**SYNTHETIC DATA")  # the first thing a reader learns
    values = [v for value in flatten(metrics).values() for v in (value if isinstance(value, list) else [value])]
    known = {figure(v) for v in values if isinstance(v, float)}
    shown = set(re.findall(r"\b\d+\.\d{4}\b", card))
    assert shown and shown <= known, shown - known
    low, high = (figure(v) for v in test["accuracy_ci95"])
    assert f"| accuracy (70 faces) | {figure(test['accuracy'])} (95% CI {low}–{high}) |" in card
    assert f"T = {figure(metrics['calibration']['temperature'])}" in card and "EU AI Act" in card
    version = mlflow.tracking.MlflowClient().get_model_version_by_alias("fer2013-expression-synthetic", "challenger")
    assert version.description == card  # attached to the registered version


def test_seed_binary_accuracy_of_an_all_zeros_model_is_six_sevenths():
    labels = np.arange(14) % 7
    assert seed_binary_accuracy(labels, np.zeros((14, 7)), 7) == pytest.approx(6 / 7)


def test_bootstrap_interval_brackets_the_mean_and_narrows_with_more_rows():
    rng = np.random.default_rng(0)
    small, large = rng.random(100) < 0.6, rng.random(10_000) < 0.6
    low, high = bootstrap_interval(small, 500, 0)
    assert low < small.mean() < high
    large_low, large_high = bootstrap_interval(large, 500, 0)
    assert (large_high - large_low) < (high - low) / 5


def test_a_diverging_run_stops_with_a_clear_error_and_ships_nothing(workspace):
    from ferpipe.core.schema import DivergedError

    with pytest.raises(DivergedError, match=r"the loss became (nan|inf) in epoch 1; no model was saved"):
        train(replace(TINY, lr=1e30), TRACKING)
    assert not any(Path(path).exists() for path in vars(TrainOutputs()).values())
    (run,) = mlflow.search_runs(experiment_names=[TRACKING.experiment], output_format="list")
    assert run.info.status == "FAILED"
    assert mlflow.search_logged_models(experiment_ids=[run.info.experiment_id], output_format="list") == []


def test_random_draws_made_while_the_run_is_opened_do_not_change_what_trains(workspace, monkeypatch):
    # MLflow draws a random run name outside `dvc exp run`; `make pipeline` and `dvc exp run` with
    # the same params must still train the same model.
    import random

    train(TINY, TRACKING)
    baseline = Path(TrainOutputs.history).read_text()
    real_tags = train_module.tracking.run_tags
    monkeypatch.setattr(
        train_module.tracking, "run_tags", lambda manifest: (random.random(), np.random.rand(), real_tags(manifest))[-1]
    )
    train(TINY, TRACKING)
    assert Path(TrainOutputs.history).read_text() == baseline


@pytest.mark.parametrize("cpu_has_bf16", [True, False])
def test_mixed_precision_trains_in_bfloat16_where_the_cpu_can_and_every_record_says_what_trained(
    workspace, monkeypatch, cpu_has_bf16
):
    from ferpipe.train import recipe

    monkeypatch.setattr(recipe, "cpu_flags", lambda: {"avx2", *(["avx512_bf16"] if cpu_has_bf16 else [])})
    summary = train(replace(TINY, epochs=2, precision="mixed_bfloat16"), TRACKING)
    used = "mixed_bfloat16" if cpu_has_bf16 else "float32"
    assert summary["precision"] == used == json.loads(Path(TrainOutputs.metrics).read_text())["precision"]
    (run,) = mlflow.search_runs(experiment_names=[TRACKING.experiment], output_format="list")
    assert run.data.params["precision"] == "mixed_bfloat16" and run.data.tags["precision_used"] == used
    model = keras.saving.load_model(TrainOutputs.model)  # saved in float32, the softmax float32 in any case
    assert model.dtype_policy.name == "float32" and model.layers[-1].dtype_policy.name == "float32"
    assert np.isfinite(model.predict(np.zeros((1, 48, 48, 1), np.uint8), verbose=0)).all()


RECIPES = sorted(path.stem for path in Path(__file__).resolve().parents[2].joinpath("conf/train").glob("*.yaml"))


@pytest.mark.parametrize("recipe", [name for name in RECIPES if name != "base"])
def test_every_recipe_composes_and_trains_an_epoch_on_the_embedded_data(workspace, recipe):
    from ferpipe.core.config import Config, build
    from tests.conftest import composed

    config = build(Config, composed(f"train={recipe}"), "conf").train
    summary = train(replace(config, epochs=1, subset=128), TRACKING)  # what `dvc exp run -S train=<recipe>` trains
    assert summary["epochs"] == 1 and 0 <= summary["best_val_accuracy"] <= 1
    model = keras.models.load_model(TrainOutputs().model)
    assert model.input_shape == (None, 48, 48, 1) and model.output_shape == (None, 7)
    crops = [layer for layer in model.layers if type(layer).__name__ == "CenterCrop"]
    assert [(layer.height, layer.width) for layer in crops] == ([(config.crop, config.crop)] if config.crop else [])
