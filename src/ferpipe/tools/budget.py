"""How many epochs of a training recipe fit in a wall-clock budget on this machine, or whether a
recipe trains within the time another takes (`fits`: a search at equal cost).

Measured, not guessed: the recipe's own model, compile, input pipeline and batch size train
for a few steps on the converted arrays (after a warm-up that traces the graph), and a pass
over val is timed the same way; an epoch is its steps plus that pass. The answer is a
`train.epochs` to run with, so the run itself stays deterministic: a clock inside training
would train a different model from the same params on a faster or busier machine.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from ferpipe.core.arrays import ARRAYS, read_manifest
from ferpipe.core.config import Config, ConfigError, TrainConfig, load_config


@dataclass(frozen=True)
class EpochTime:
    step_seconds: float
    steps: int  # per epoch
    val_seconds: float
    measured_on: str

    @property
    def seconds(self) -> float:
        return self.step_seconds * self.steps + self.val_seconds


def epochs_within(minutes: float, epoch: EpochTime) -> int:
    return math.floor(minutes * 60 / epoch.seconds)


def three_figures(seconds: float) -> str:
    """Seconds to three significant figures, never in e-notation: a tiny model's 0.356 s epoch
    printed as "0.4" would disagree by a tenth with the epoch count computed from it."""
    if seconds <= 0:
        return "0"
    decimals = max(0, 2 - math.floor(math.log10(seconds)))
    return f"{seconds:.{decimals}f}"


def measure_epoch(config: TrainConfig, arrays: Path = ARRAYS, steps: int = 20, windows: int = 3) -> EpochTime:
    """Train `steps` steps once to trace the graph, then `windows` times more, and evaluate val twice;
    the fastest window and pass count. The fastest, because what slows a window on a shared machine
    is the machine: one slow window of 20 steps put bfloat16 at twice its real step time."""
    import keras
    import tensorflow as tf

    from ferpipe.train.inputs import TrainingData, evaluation_batches, training_stream
    from ferpipe.train.recipe import compile_model, usable_precision

    manifest = read_manifest(arrays)
    data = TrainingData.load(arrays, config, num_classes=len(manifest["label_names"]))
    keras.config.set_dtype_policy(usable_precision(config.precision)[0])
    tf.config.experimental.enable_op_determinism()  # as the train stage runs: it costs time too
    model = compile_model(config, data.num_classes, data.x_train.shape[1:])
    stream = training_stream(
        data.x_train,
        data.targets,
        data.num_classes,
        config.batch_size,
        config.seed,
        config.augment,
        first_epoch=0,
        epochs=windows + 1,
    )
    ticks: list[float] = []
    timer = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: ticks.append(time.perf_counter()))
    model.fit(stream, epochs=windows + 1, steps_per_epoch=steps, callbacks=[timer], shuffle=False, verbose=0)
    step_seconds = min(later - earlier for earlier, later in pairwise(ticks)) / steps
    val = evaluation_batches(data.x_val, data.y_val, data.num_classes, config.batch_size)
    model.evaluate(val, verbose=0)
    passes = []
    for _ in range(2):
        begun = time.perf_counter()
        model.evaluate(val, verbose=0)
        passes.append(time.perf_counter() - begun)
    return EpochTime(
        step_seconds,
        data.steps_per_epoch(config.batch_size),
        min(passes),
        f"{len(data.x_train):,} {manifest['data']} training faces in {arrays}",
    )


def plan(minutes: float, config: TrainConfig, overrides: list[str], arrays: Path = ARRAYS) -> tuple[int, str]:
    """The epochs that fit, and what to tell a person: the measurement and the command to run."""
    epoch = measure_epoch(config, arrays)
    epochs = epochs_within(minutes, epoch)
    measured = (
        f"{config.arch}, batch {config.batch_size}: {three_figures(epoch.step_seconds)} s a step"
        f" x {epoch.steps} steps + {three_figures(epoch.val_seconds)} s of val"
        f" = {three_figures(epoch.seconds)} s an epoch on this machine"
        f" ({epoch.measured_on})"
    )
    if epochs < 1:
        return 0, f"{measured}; not one epoch fits in {minutes:g} minutes"
    kept = [o for o in overrides if not o.startswith("train.epochs=")]
    command = " ".join(["dvc exp run", *(f"-S {o}" for o in kept), f"-S train.epochs={epochs}"])
    return epochs, f"{measured}\n{minutes:g} minutes hold {epochs} epoch(s): {command}"


def describe(config: TrainConfig) -> str:
    crop = f", crop {config.crop}" if config.crop else ""
    return f"{config.arch}, batch {config.batch_size}, {config.precision}{crop}"


def fits(
    reference: TrainConfig, candidate: TrainConfig, reference_name: str, arrays: Path = ARRAYS
) -> tuple[bool, str]:
    """Whether `candidate`'s epochs train within the time `reference`'s take on this machine, both
    measured here, side by side, and what to tell a person."""
    budget, spent = measure_epoch(reference, arrays), measure_epoch(candidate, arrays)
    allowed, needed = reference.epochs * budget.seconds, candidate.epochs * spent.seconds
    verdict = "fits" if needed <= allowed else "does not fit"
    return needed <= allowed, (
        f"budget: {reference_name} ({describe(reference)}): {reference.epochs} epochs x {three_figures(budget.seconds)} s"
        f" = {allowed / 60:.1f} min on this machine ({budget.measured_on})\n"
        f"candidate ({describe(candidate)}): {candidate.epochs} epochs x {three_figures(spent.seconds)} s"
        f" = {needed / 60:.1f} min: {verdict} ({needed / allowed:.0%} of the budget; "
        f"{epochs_within(allowed / 60, spent)} epochs would fit)"
    )


def composed(overrides: list[str], conf: Path = Path("conf")) -> Config:
    """The params `dvc exp run -S <overrides>` would train with: conf/ composed by DVC's own Hydra
    support, the overrides on top (recipes by name, `train=cpu_session`, included)."""
    from dvc.utils.hydra import compose_and_dump

    with tempfile.TemporaryDirectory() as folder:
        params = Path(folder) / "params.yaml"
        compose_and_dump(params, str(conf.resolve()), None, "config", str(Path.cwd()), list(overrides))
        try:
            return load_config(params)
        except ConfigError as error:  # named by what the person typed, not the temporary file
            given = " ".join(f"-S {o}" for o in overrides) or "no override"
            raise ConfigError(str(error).replace(str(params), f"{conf} composed with {given}")) from None
