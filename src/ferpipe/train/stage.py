"""Stage `train`: fit an architecture on `train`, select on `val` (PublicTest), save the best.

The input pipeline (ferpipe.train.inputs) is tf.data over the uint8 arrays, augmentation inside it
and scaling inside the model, repeated with `steps_per_epoch`, which avoids the idle stall
`fit` shows at every epoch end on plain numpy arrays. Seeds are set and op determinism is on,
so the same params give the same metrics on a CPU. Each epoch is checkpointed (Keras
BackupAndRestore plus ferpipe.train.callbacks); a re-run after an interruption, `kill -9` included,
resumes from the last epoch in the same MLflow run and ends as an uninterrupted run would,
unless params or data changed, in which case it starts over.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from ferpipe.core import tracking
from ferpipe.core.arrays import ARRAYS, load_optional, load_split, read_manifest
from ferpipe.core.config import Config, TrackingConfig, TrainConfig
from ferpipe.core.files import atomic_outputs, clear, write_json
from ferpipe.core.paths import CHECKPOINTS, TrainOutputs
from ferpipe.core.schema import DataError, DivergedError
from ferpipe.train.inputs import evaluation_batches, training_stream

log = logging.getLogger(__name__)


def run(config: Config) -> None:
    """Stage train: fit train.arch on the train split, keep the best epoch on val, log to MLflow."""
    train(config.train, config.tracking)


def train(config: TrainConfig, tracking_config: TrackingConfig, arrays: Path = ARRAYS,
          outputs: TrainOutputs = TrainOutputs()) -> dict[str, Any]:
    import keras
    import mlflow
    import tensorflow as tf

    from ferpipe.train.distribute import distribution

    strategy, chief = distribution(config.distribute)  # before any other TensorFlow work, as MWMS requires
    clear(*vars(outputs).values())
    manifest = read_manifest(arrays)
    soft_targets = load_optional(arrays, "targets_train")  # ferplus_probability: the vote distribution
    x_train, y_train, *targets = subset(config.subset, config.seed, *load_split(arrays, "train"),
                                        *([soft_targets] if soft_targets is not None else []))
    x_val, y_val = subset(config.subset, config.seed, *load_split(arrays, "val"))
    if len(x_train) == 0 or len(x_val) == 0:
        raise DataError(f"{arrays}: train has {len(x_train)} and val {len(x_val)} rows; both must be non-empty")
    num_classes = len(manifest["label_names"])

    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()

    state = ResumeState(CHECKPOINTS, fingerprint(config, manifest))
    # Every worker writes its own outputs; only the chief logs to MLflow.
    with tracked_run(config, tracking_config, manifest, state, len(x_train), len(x_val)) if chief \
            else contextlib.nullcontext() as run:
        if manifest["data"] == "synthetic":
            log.warning("training on SYNTHETIC data: the metrics say nothing about real faces")
        log.info("training %s for %d epochs, lr %g, batch %d, %d replica(s)", config.arch, config.epochs,
                 config.lr, config.batch_size, strategy.num_replicas_in_sync)

        with strategy.scope():
            model = compile_model(config, num_classes, x_train.shape[1:])
        steps = math.ceil(len(x_train) / config.batch_size)
        first_epoch = state.completed_epochs()
        train_data = training_stream(x_train, targets[0] if targets else y_train, num_classes, config.batch_size, config.seed, config.augment,
                                     first_epoch, config.epochs)
        val_data = evaluation_batches(x_val, y_val, num_classes, config.batch_size)
        started = time.perf_counter()
        history = model.fit(
            train_data, validation_data=val_data, epochs=config.epochs, steps_per_epoch=steps,
            class_weight=class_weights(y_train, num_classes) if config.class_weights else None,
            callbacks=callbacks(config, state, tracked=run is not None), shuffle=False, verbose=2,  # shuffled in tf.data
        )
        seconds = time.perf_counter() - started
        if not all(math.isfinite(loss) for loss in history.history.get("loss", [])):
            state.clear()  # a resumed run would start from the broken weights
            raise DivergedError(f"train: the loss became {history.history['loss'][-1]} in epoch {len(history.epoch)}; "
                                "no model was saved. Lower train.lr or check the data.")

        best = build_inference_copy(config, num_classes, x_train.shape[1:], state.best_weights)
        epochs_run = len(history.epoch)
        summary = summarise(state.log_file, epochs_run, seconds, steps * config.batch_size, best)
        written = [outputs.model, outputs.history, outputs.metrics]
        if run is not None:
            mlflow.log_metrics({"best_val_accuracy": summary["best_val_accuracy"],
                                "train_images_per_second": summary["images_per_second"]})
            tracking.log_model(best, x_val[:8], manifest["label_names"])
            written.append(outputs.run)
        with atomic_outputs(*written) as staged:
            best.save(staged(outputs.model))
            shutil.copyfile(state.log_file, staged(outputs.history))
            write_json(staged(outputs.metrics), summary)
            if run is not None:
                write_json(staged(outputs.run), {"run_id": run.info.run_id, "experiment_id": run.info.experiment_id})
    state.clear()
    log.info("best val accuracy %.4f at epoch %d; model saved to %s",
             summary["best_val_accuracy"], summary["best_epoch"], outputs.model)
    return summary


@contextlib.contextmanager
def tracked_run(config: TrainConfig, tracking_config: TrackingConfig, manifest: dict[str, Any], state: "ResumeState",
                train_rows: int, val_rows: int):
    """The MLflow run this training logs into: the interrupted run it resumes, the one `mlflow run`
    opened, or a new one with the params and tags."""
    import mlflow

    experiment_id = tracking.configure(tracking_config.experiment)
    if state.abandoned_run:
        tracking.mark_failed_if_running(state.abandoned_run)  # e.g. killed (-9) before it could say so
    resumed_run = state.run_id()
    opened_run = os.environ.get("MLFLOW_RUN_ID")
    with mlflow.start_run(run_id=resumed_run or opened_run, experiment_id=experiment_id,
                          run_name=None if resumed_run or opened_run else tracking.run_name()) as run:
        state.remember_run(run.info.run_id)
        if resumed_run:
            log.info("resuming MLflow run %s from the last checkpoint in %s", resumed_run, state.folder)
        else:
            mlflow.set_tags({**tracking.run_tags(manifest), "stage": "train"})
            params = {**tracking.flatten(dataclasses.asdict(config)), "train_rows": train_rows,
                      "val_rows": val_rows, "data": manifest["data"]}
            already = run.data.params  # `mlflow run` logs its -P values ("1e-4") under the same keys
            mlflow.log_params({k: v for k, v in params.items() if k not in already})
        yield run


def subset(size: int, seed: int, *arrays: np.ndarray) -> list[np.ndarray]:
    """The same seeded random rows, at most `size` (all when size is 0), of each array, in memory."""
    count = len(arrays[0])
    if size <= 0 or size >= count:
        return [np.asarray(a) for a in arrays]
    rows = np.sort(np.random.default_rng(seed).permutation(count)[:size])
    return [np.asarray(a[rows]) for a in arrays]


def compile_model(config: TrainConfig, num_classes: int, input_shape):
    import keras

    from ferpipe.models import build_model

    model = build_model(config.arch, tuple(input_shape), num_classes)
    if config.loss == "categorical_crossentropy":
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)
    else:  # the seed's mistake, kept reproducible: 7 independent yes/no problems
        loss = keras.losses.BinaryCrossentropy(label_smoothing=config.label_smoothing)
    model.compile(
        optimizer=make_optimizer(config),
        loss=loss,
        # True accuracy first; Keras' binary accuracy (the seed's "88.6%") beside it for comparison.
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy"), keras.metrics.BinaryAccuracy(name="binary_accuracy")],
    )
    return model


def make_optimizer(config: TrainConfig):
    import keras

    if config.optimizer == "adam":
        return keras.optimizers.Adam(config.lr)
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(config.lr, weight_decay=config.weight_decay)
    return keras.optimizers.SGD(config.lr, momentum=0.9, nesterov=True, weight_decay=config.weight_decay or None)


def class_weights(y: np.ndarray, num_classes: int) -> dict[int, float]:
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(y)
    weights = compute_class_weight("balanced", classes=present, y=y)
    return {int(c): float(w) for c, w in zip(present, weights)} | {c: 1.0 for c in range(num_classes) if c not in present}


def callbacks(config: TrainConfig, state: "ResumeState", tracked: bool = True) -> list:
    import keras
    import mlflow

    from ferpipe.train.callbacks import Progress, RandomStateBackup, ReplayHistory

    schedule = []
    if config.early_stopping_patience > 0:
        schedule.append(keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max",
                                                      patience=config.early_stopping_patience))
    if config.schedule.kind == "plateau":
        schedule.append(keras.callbacks.ReduceLROnPlateau(monitor="val_accuracy", mode="max", factor=config.schedule.factor,
                                                          patience=config.schedule.patience, min_lr=config.schedule.min_lr))
    elif config.schedule.kind == "cosine":
        low, high, total = config.schedule.min_lr, config.lr, max(config.epochs - 1, 1)
        schedule.append(keras.callbacks.LearningRateScheduler(
            lambda epoch: low + 0.5 * (high - low) * (1 + math.cos(math.pi * epoch / total))))
    return [
        keras.callbacks.TerminateOnNaN(),  # then `train` raises: a diverged run ships nothing
        *schedule,
        ReplayHistory(state.history(), schedule),
        keras.callbacks.ModelCheckpoint(
            str(state.best_weights), monitor="val_accuracy", mode="max", save_best_only=True,
            save_weights_only=True, initial_value_threshold=state.best_val_accuracy(),
        ),
        keras.callbacks.CSVLogger(str(state.log_file), append=True),
        *([mlflow.keras.MlflowCallback(log_every_epoch=True)] if tracked else []),
        Progress(),
        RandomStateBackup(state.random_states, state.completed_epochs()),
        # Last: an epoch counts as done only once everything above has recorded it.
        keras.callbacks.BackupAndRestore(str(state.backup), save_freq="epoch", delete_checkpoint=False),
    ]


def build_inference_copy(config: TrainConfig, num_classes: int, input_shape, weights: Path):
    """The best epoch's weights in a fresh, uncompiled model: saved without optimizer state (3x smaller)."""
    from ferpipe.models import build_model

    model = build_model(config.arch, tuple(input_shape), num_classes)
    model.load_weights(str(weights))
    return model


def summarise(log_file: Path, epochs_run: int, seconds: float, images_per_epoch: int, model) -> dict[str, Any]:
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


def fingerprint(config: TrainConfig, manifest: dict[str, Any]) -> str:
    """What a checkpoint depends on: the resolved params and the exact arrays."""
    payload = json.dumps({"config": dataclasses.asdict(config), "arrays": manifest["files"]}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


class ResumeState:
    """The checkpoint folder: Keras' backup, the best weights, the epoch log, the random-generator
    states and the MLflow run id.

    Kept only while it matches the params and data it was made for and its backup is readable.
    """

    def __init__(self, folder: Path, fingerprint: str):
        self.folder = Path(folder)
        self.backup = self.folder / "backup"
        self.best_weights = self.folder / "best.weights.h5"
        self.log_file = self.folder / "history.csv"
        self.random_states = self.folder / "random_states.json"
        self._state_file = self.folder / "state.json"
        saved = json.loads(self._state_file.read_text()) if self._state_file.exists() else {}
        self.abandoned_run: str | None = None  # the MLflow run of a discarded checkpoint
        problem = self._problem(saved, fingerprint)
        if problem:
            if self.folder.exists():
                log.info("starting afresh: %s %s", self.folder, problem)
            self.abandoned_run = saved.get("run_id")
            shutil.rmtree(self.folder, ignore_errors=True)
            saved = {}
        self.folder.mkdir(parents=True, exist_ok=True)
        self._saved = {**saved, "fingerprint": fingerprint}
        self._forget_epochs_after(self.completed_epochs())

    def _problem(self, saved: dict[str, Any], fingerprint: str) -> str | None:
        if saved.get("fingerprint") != fingerprint or not (self.backup / "training_metadata.json").exists():
            return "holds no checkpoint for these params and data"
        import h5py

        try:
            with h5py.File(self.backup / "latest.weights.h5", "r"):
                return None
        except OSError:  # killed while writing it; a fresh start reaches the same result
            return "holds a checkpoint that cannot be read"

    def completed_epochs(self) -> int:
        metadata = self.backup / "training_metadata.json"
        return int(json.loads(metadata.read_text())["epoch"]) if metadata.exists() else 0

    def _forget_epochs_after(self, completed: int) -> None:
        """Drop log rows of an epoch that was logged but not checkpointed: it is trained again."""
        history = self.history()
        kept = [row for row in history if int(row["epoch"]) < completed]
        if not kept:
            self.log_file.unlink(missing_ok=True)
        elif len(kept) < len(history):
            import pandas as pd

            pd.DataFrame(kept).to_csv(self.log_file, index=False)

    def history(self) -> list[dict[str, Any]]:
        if not self.log_file.exists():
            return []
        import pandas as pd

        return pd.read_csv(self.log_file).to_dict("records")

    def run_id(self) -> str | None:
        return self._saved.get("run_id")

    def remember_run(self, run_id: str) -> None:
        self._saved["run_id"] = run_id
        write_json(self._state_file, self._saved)

    def best_val_accuracy(self) -> float | None:
        scores = [row["val_accuracy"] for row in self.history()]
        return float(max(scores)) if scores else None

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
