"""Stage `train`: fit an architecture on `train`, select on `val` (PublicTest), save the best.

The input pipeline (ferpipe.train.inputs) is tf.data over the uint8 arrays, augmentation inside
it and scaling inside the model, repeated with `steps_per_epoch`, which avoids the idle stall
`fit` shows at every epoch end on plain numpy arrays. Seeds are set and op determinism is on,
so the same params give the same metrics on a CPU. Every epoch is checkpointed, so that an
interrupted run resumes exactly (ferpipe.train.resume). A loss that stops being a finite
number ends the run with an error: a diverged model is never saved, logged or registered.
What the run records in MLflow is ferpipe.train.record's.
"""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import mlflow

from ferpipe.core import tracking
from ferpipe.core.arrays import ARRAYS, read_manifest
from ferpipe.core.config import Config, TrackingConfig, TrainConfig
from ferpipe.core.files import atomic_outputs, clear, write_json
from ferpipe.core.paths import CHECKPOINTS, TrainOutputs
from ferpipe.core.schema import DivergedError
from ferpipe.train import recipe, record

if TYPE_CHECKING:
    import tensorflow as tf
from ferpipe.train.inputs import TrainingData, evaluation_batches, training_stream
from ferpipe.train.resume import (
    RandomStateBackup,
    ReplayHistory,
    ResumeState,
    fingerprint,
)

log = logging.getLogger(__name__)


def run(config: Config) -> None:
    """Stage train: fit train.arch on the train split, keep the best epoch on val, log to MLflow."""
    train(config.train, config.tracking)


def train(
    config: TrainConfig, tracking_config: TrackingConfig, arrays: Path = ARRAYS, outputs: TrainOutputs = TrainOutputs()
) -> dict[str, Any]:
    from ferpipe.train.distribute import distribution

    strategy, chief = distribution(config.distribute)  # before any other TensorFlow work, as MWMS requires
    clear(*vars(outputs).values())
    manifest = read_manifest(arrays)
    data = TrainingData.load(arrays, config, num_classes=len(manifest["label_names"]))
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    state = ResumeState(CHECKPOINTS, fingerprint(config, manifest))
    # Every worker trains and writes its outputs; only the chief logs to MLflow.
    with (
        record.tracked_run(config, tracking_config, manifest, state, data) if chief else contextlib.nullcontext() as run
    ):
        if manifest["data"] == "synthetic":
            log.warning("training on SYNTHETIC data: the metrics say nothing about real faces")
        precision, fallback = recipe.usable_precision(config.precision)
        if fallback:
            log.warning(fallback)
        log.info(
            "training %s for %d epochs, lr %g, batch %d, %s, %d replica(s)",
            config.arch,
            config.epochs,
            config.lr,
            config.batch_size,
            precision,
            strategy.num_replicas_in_sync,
        )
        epochs_run, seconds = fit(config, data, state, strategy, precision, tracked=run is not None)
        best = recipe.inference_copy(config, data.num_classes, data.x_train.shape[1:], state.best_weights)
        summary = {
            **summarise(
                state.log_file, epochs_run, seconds, data.steps_per_epoch(config.batch_size) * config.batch_size, best
            ),
            "precision": precision,
        }  # what trained: the param may have asked for what this CPU lacks
        write_outputs(outputs, best, state, summary, run, data, manifest)
    state.clear()
    log.info(
        "best val accuracy %.4f at epoch %d; model saved to %s",
        summary["best_val_accuracy"],
        summary["best_epoch"],
        outputs.model,
    )
    return summary


def fit(
    config: TrainConfig,
    data: TrainingData,
    state: ResumeState,
    strategy: tf.distribute.Strategy,
    precision: str,
    tracked: bool,
) -> tuple[int, float]:
    """Build the model in `precision` (a Keras dtype policy) and train it."""
    # Seeded here, right before the weights are drawn: whatever ran before (MLflow draws a random
    # run name outside `dvc exp run`, for one) must not change what the same params train.
    keras.utils.set_random_seed(config.seed)
    keras.config.set_dtype_policy(precision)
    try:
        with strategy.scope():
            model = recipe.compile_model(config, data.num_classes, data.x_train.shape[1:])
        return fit_epochs(model, config, data, state, tracked)
    finally:
        keras.config.set_dtype_policy("float32")  # the saved inference copy is float32 either way


def fit_epochs(
    model: keras.Model, config: TrainConfig, data: TrainingData, state: ResumeState, tracked: bool
) -> tuple[int, float]:
    """Train from the last checkpoint on; return the epochs this run trained and its seconds."""
    train_data = training_stream(
        data.x_train,
        data.targets,
        data.num_classes,
        config.batch_size,
        config.seed,
        config.augment,
        state.completed_epochs(),
        config.epochs,
    )
    started = time.perf_counter()
    history = model.fit(
        train_data,
        validation_data=evaluation_batches(data.x_val, data.y_val, data.num_classes, config.batch_size),
        epochs=config.epochs,
        steps_per_epoch=data.steps_per_epoch(config.batch_size),
        class_weight=recipe.class_weights(data.y_train, data.num_classes) if config.class_weights else None,
        callbacks=callbacks(config, state, tracked=tracked),
        shuffle=False,  # shuffled in tf.data
        verbose=1 if sys.stdout.isatty() else 2,  # a progress bar at a terminal, a line per epoch in a log
    )
    seconds = time.perf_counter() - started
    if not all(math.isfinite(loss) for loss in history.history.get("loss", [])):
        state.clear()  # a resumed run would start from the broken weights
        raise DivergedError(
            f"train: the loss became {history.history['loss'][-1]} in epoch {len(history.epoch)}; "
            "no model was saved. Lower train.lr or check the data."
        )
    return len(history.epoch), seconds


def callbacks(config: TrainConfig, state: ResumeState, tracked: bool = True) -> list:
    schedule = recipe.schedule_callbacks(config)
    return [
        keras.callbacks.TerminateOnNaN(),  # then `fit` raises: a diverged run ships nothing
        *recipe.ema_callbacks(config, resumed=state.completed_epochs() > 0),  # before the checkpoint
        *schedule,
        ReplayHistory(state.history(), schedule),
        keras.callbacks.ModelCheckpoint(
            str(state.best_weights),
            monitor="val_accuracy",
            mode="max",
            save_best_only=True,
            save_weights_only=True,
            initial_value_threshold=state.best_val_accuracy(),
        ),
        keras.callbacks.CSVLogger(str(state.log_file), append=True),
        # Each epoch's figures once, under Keras' names (MLflow's own callback adds validation_* copies
        # of val_* and the optimizer's config beside the params), and its wall seconds, validation
        # included: summed into train_minutes, what the run cost, across resumes too.
        *(
            [
                keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: mlflow.log_metrics(logs, step=epoch)),
                record.EpochSeconds(),
            ]
            if tracked
            else []
        ),
        RandomStateBackup(state.random_states, state.completed_epochs()),
        # Last: an epoch counts as done only once everything above has recorded it.
        keras.callbacks.BackupAndRestore(str(state.backup), save_freq="epoch", delete_checkpoint=False),
    ]


def write_outputs(
    outputs: TrainOutputs,
    best: keras.Model,
    state: ResumeState,
    summary: dict[str, Any],
    run: mlflow.ActiveRun | None,
    data: TrainingData,
    manifest: dict[str, Any],
) -> None:
    """The stage's outputs; in a tracked run also its summary and its model, logged from the very
    files DVC tracks."""
    written = [outputs.model, outputs.lite_model, outputs.record, outputs.history, outputs.metrics]
    with atomic_outputs(*written, *([outputs.run] if run else [])) as staged:
        model_files = tracking.save_network(best, staged(outputs.model), staged(outputs.lite_model))
        write_json(
            staged(outputs.record),
            {"data": manifest["data"], "labels": manifest["labels"], "label_names": manifest["label_names"]},
        )
        shutil.copyfile(state.log_file, staged(outputs.history))
        write_json(staged(outputs.metrics), summary)
        if run:
            model_uri = record.log_result(run.info.run_id, summary, model_files, data, manifest)
            write_json(
                staged(outputs.run),
                {"run_id": run.info.run_id, "experiment_id": run.info.experiment_id, "model_uri": model_uri},
            )


def summarise(
    log_file: Path, epochs_run: int, seconds: float, images_per_epoch: int, model: keras.Model
) -> dict[str, Any]:
    import pandas as pd

    history = pd.read_csv(log_file)
    best_row = history.loc[history["val_accuracy"].idxmax()]
    return {
        "best_epoch": int(best_row["epoch"]) + 1,
        "best_val_accuracy": float(best_row["val_accuracy"]),
        "best_val_binary_accuracy": float(best_row["val_binary_accuracy"]),
        "epochs": int(len(history)),
        "epochs_this_run": epochs_run,
        "seconds_this_run": round(seconds, 1),
        "images_per_second": round(epochs_run * images_per_epoch / seconds, 1) if seconds else 0.0,
        "parameters": int(model.count_params()),
    }
