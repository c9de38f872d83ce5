"""The stage's own Keras callbacks: progress lines, and the state a checkpoint lacks for an exact resume.

Keras' BackupAndRestore restores weights, optimizer state (learning rate included) and the
epoch. Two things it leaves out would make a resumed run drift from an uninterrupted one: the
random-generator state of layers such as Dropout, and the counters of ReduceLROnPlateau and
EarlyStopping. The callbacks here carry both across an interruption.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import keras

from ferpipe.core.files import write_json

log = logging.getLogger("ferpipe.train.stage")


class Progress(keras.callbacks.Callback):
    """A log line every 10% of an epoch: progress that reads well in a log file."""

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.started, self.next_report = epoch, time.perf_counter(), 0.1

    def on_train_batch_end(self, batch, logs=None):
        steps = self.params.get("steps") or 1
        if (batch + 1) / steps >= self.next_report:
            self.next_report += 0.1
            elapsed = time.perf_counter() - self.started
            log.info("epoch %d: step %d/%d, %.0f s (%.2f steps/s), loss %.4f, accuracy %.4f", self.epoch + 1,
                     batch + 1, steps, elapsed, (batch + 1) / elapsed, logs.get("loss", float("nan")),
                     logs.get("accuracy", float("nan")))


def random_states(model: keras.Model) -> list:
    """The state variables of the model's random generators (Dropout's, for one), in layer order."""
    return [variable for variable in model.variables if variable.name == "seed_generator_state"]


class RandomStateBackup(keras.callbacks.Callback):
    """Records the random-generator states at each epoch end; puts back those of `first_epoch` on resume."""

    def __init__(self, path: Path, first_epoch: int):
        super().__init__()
        self.path, self.first_epoch = Path(path), first_epoch
        self.saved: dict[str, list] = json.loads(self.path.read_text()) if self.path.exists() else {}

    def on_train_begin(self, logs=None):
        if self.first_epoch == 0:
            return
        states = self.saved.get(str(self.first_epoch))
        if states is None:
            raise RuntimeError(f"{self.path}: no random-generator state for epoch {self.first_epoch}; "
                               "delete the checkpoint folder to start over")
        for variable, state in zip(random_states(self.model), states, strict=True):
            variable.assign(state)

    def on_epoch_end(self, epoch, logs=None):
        self.saved[str(epoch + 1)] = [keras.ops.convert_to_numpy(v).tolist() for v in random_states(self.model)]
        write_json(self.path, self.saved)


class ReplayHistory(keras.callbacks.Callback):
    """Feeds the epochs already trained to stateful callbacks (plateau, early stopping) before a resumed run."""

    def __init__(self, history: list[dict], listeners: list[keras.callbacks.Callback]):
        super().__init__()
        self.history, self.listeners = history, listeners

    def on_train_begin(self, logs=None):
        for row in self.history:
            for listener in self.listeners:
                listener.on_epoch_end(int(row["epoch"]), logs=dict(row))
