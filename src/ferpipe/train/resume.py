"""Exact resume: the checkpoint folder, and what Keras' own backup leaves out.

Every epoch is checkpointed (Keras BackupAndRestore plus the callbacks here); a re-run after
an interruption, `kill -9` included, resumes from the last epoch in the same MLflow run and
ends as an uninterrupted run would, unless params or data changed, in which case it starts
over. BackupAndRestore restores weights, optimizer state (learning rate included) and the
epoch. Two things it leaves out would make a resumed run drift: the random-generator state of
layers such as Dropout, and the counters of ReduceLROnPlateau and EarlyStopping.
RandomStateBackup and ReplayHistory carry both across an interruption.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import keras

from ferpipe.core.config import TrainConfig
from ferpipe.core.files import write_json

log = logging.getLogger(__name__)


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


def random_states(model: keras.Model) -> list:
    """The state variables of the model's random generators (Dropout's, for one), in layer order."""
    return [variable for variable in model.variables if variable.name == "seed_generator_state"]


class RandomStateBackup(keras.callbacks.Callback):
    """Records the random-generator states at each epoch end; puts back those of `first_epoch` on resume."""

    def __init__(self, path: Path, first_epoch: int):
        super().__init__()
        self.path, self.first_epoch = Path(path), first_epoch
        self.saved: dict[str, list] = json.loads(self.path.read_text()) if self.path.exists() else {}

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        if self.first_epoch == 0:
            return
        states = self.saved.get(str(self.first_epoch))
        if states is None:
            raise RuntimeError(
                f"{self.path}: no random-generator state for epoch {self.first_epoch}; "
                "delete the checkpoint folder to start over"
            )
        for variable, state in zip(random_states(self.model), states, strict=True):
            variable.assign(state)

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.saved[str(epoch + 1)] = [keras.ops.convert_to_numpy(v).tolist() for v in random_states(self.model)]
        write_json(self.path, self.saved)


class ReplayHistory(keras.callbacks.Callback):
    """Feeds the epochs already trained to stateful callbacks (plateau, early stopping) before a resumed run."""

    def __init__(self, history: list[dict], listeners: list[keras.callbacks.Callback]):
        super().__init__()
        self.history, self.listeners = history, listeners

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        for row in self.history:
            for listener in self.listeners:
                listener.on_epoch_end(int(row["epoch"]), logs=dict(row))
