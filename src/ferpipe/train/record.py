"""What a training run records in MLflow: the run it logs into (new, resumed, or `mlflow run`'s),
its params and tags, each epoch's wall seconds, and at the end its summary metrics and best model."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import mlflow

from ferpipe.core import tracking
from ferpipe.core.config import TrackingConfig, TrainConfig
from ferpipe.train.inputs import TrainingData
from ferpipe.train.resume import ResumeState

log = logging.getLogger(__name__)


@contextlib.contextmanager
def tracked_run(
    config: TrainConfig,
    tracking_config: TrackingConfig,
    manifest: dict[str, Any],
    state: ResumeState,
    data: TrainingData,
) -> Iterator[mlflow.ActiveRun]:
    """The MLflow run this training logs into: the interrupted run it resumes, the one `mlflow run`
    opened, or a new one with the params and tags."""
    if state.abandoned_run:
        tracking.configure(tracking_config.experiment)
        tracking.mark_failed_if_running(state.abandoned_run)  # e.g. killed (-9) before it could say so
    resumed_run = state.run_id()
    name = f"{config.arch}-{manifest['labels']}-{time.strftime('%Y%m%d-%H%M%S')}"  # outside `dvc exp run`
    with tracking.open_run(tracking_config.experiment, resumed_run or os.environ.get("MLFLOW_RUN_ID"), name) as run:
        state.remember_run(run.info.run_id)
        if resumed_run:
            log.info("resuming MLflow run %s from the last checkpoint in %s", resumed_run, state.folder)
        else:
            mlflow.set_tags({**tracking.run_tags(manifest), "stage": "train"})
            tracking.log_dataset(manifest)
            params = {
                **tracking.flatten(dataclasses.asdict(config)),
                "train_rows": len(data.x_train),
                "val_rows": len(data.x_val),
                "data": manifest["data"],
            }
            already = run.data.params  # `mlflow run` logs its -P values ("1e-4") under the same keys
            mlflow.log_params({k: v for k, v in params.items() if k not in already})
        yield run


class EpochSeconds(keras.callbacks.Callback):
    """Logs each epoch's wall seconds to MLflow as `epoch_seconds` (not to history.csv, which the
    same params must reproduce byte for byte)."""

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        mlflow.log_metric("epoch_seconds", round(time.perf_counter() - self.started, 1), step=epoch)


def log_result(
    run_id: str, summary: dict[str, Any], model_files: tuple[Path, Path], data: TrainingData, manifest: dict[str, Any]
) -> str:
    """The run's summary metrics and its best model; the model's URI, to register it by."""
    # The best epoch's figures under their own names: the per-epoch series end at the last epoch.
    mlflow.set_tag("precision_used", summary["precision"])
    epochs = mlflow.tracking.MlflowClient().get_metric_history(run_id, "epoch_seconds")
    mlflow.log_metrics(
        {
            "best_epoch": summary["best_epoch"],
            "best_val_accuracy": summary["best_val_accuracy"],
            "best_val_binary_accuracy": summary["best_val_binary_accuracy"],
            "train_images_per_second": summary["images_per_second"],
            "train_minutes": round(sum(epoch.value for epoch in epochs) / 60, 2),
        }
    )
    return tracking.log_model_files(model_files, data.x_val[:8], manifest["label_names"], manifest["data"])
