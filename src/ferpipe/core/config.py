"""`params.yaml` → one typed, validated config object, built once and passed down.

params.yaml is the single home of every value: `dvc exp run` composes it from the recipes in
conf/ (DVC's Hydra support), and the stages read nothing else. The dataclasses below only
declare types, so a missing key is an error naming it, as an unknown key is; nothing falls
back silently to a default written in code. Values are coerced to the declared types (PyYAML
reads `1e-4` as a string; the config turns it into 0.0001).

Longer than most modules: it declares every group, the range each value must lie in, and the
coercion from YAML, which together are the single description of what params.yaml may hold.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

DEFAULT_PARAMS = Path("params.yaml")


class ConfigError(ValueError):
    """params.yaml lacks a key, names one that does not exist, or holds a value that cannot run."""


Rule = tuple[Callable[[Any], bool], str]
POSITIVE: Rule = (lambda v: math.isfinite(v) and v > 0, "a finite number > 0")
NON_NEGATIVE: Rule = (lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0")
AT_LEAST_ONE: Rule = (lambda v: v >= 1, "an integer >= 1")
FRACTION: Rule = (lambda v: 0 <= v < 1, "a number from 0 up to (not including) 1")
OPEN_FRACTION: Rule = (lambda v: 0 < v < 1, "a number between 0 and 1")
NAME: Rule = (lambda v: bool(v.strip()), "a non-empty name")
FINITE: Rule = (lambda v: math.isfinite(v), "a finite number")
# TensorFlow holds a learning rate as float32: a larger one is inf there, and training fails once begun.
FLOAT32_MAX = 3.4028234663852886e38
RATE: Rule = (lambda v: math.isfinite(v) and 0 < v <= FLOAT32_MAX, "a number > 0 that float32 holds (<= 3.4e38)")


class Checked:
    """Ranges the values must lie in, checked as the config is built, so that a value that cannot
    run (lr nan, epochs 0, a batch of -1) stops the stage before TensorFlow or MLflow start."""

    RULES: typing.ClassVar[dict[str, Rule]] = {}

    def __post_init__(self) -> None:
        for name, (holds, expected) in self.RULES.items():
            value = getattr(self, name)
            if not holds(value):
                raise ConfigError(f"{name}: expected {expected}, got {value!r}")


@dataclass(frozen=True)
class IngestConfig(Checked):
    source: str  # any FER2013 form (see ferpipe.ingest.readers), or the synthesize stage's CSV
    on_bad_rows: Literal["fail", "skip"]
    val_fraction: float  # carved from training (stratified, seeded) when the source has no PublicTest rows
    seed: int
    labels: Literal["fer2013", "ferplus_majority", "ferplus_probability"]  # see ferpipe.ingest.labels
    ferplus_votes: str  # FER+'s fer2013new.csv; read only in the FER+ modes

    RULES = {"val_fraction": OPEN_FRACTION, "seed": NON_NEGATIVE, "source": NAME}


@dataclass(frozen=True)
class SyntheticConfig(Checked):
    seed: int
    rows: dict[str, int]  # per Usage

    RULES = {
        "seed": NON_NEGATIVE,
        "rows": (lambda v: min(v.values(), default=0) >= 0 and sum(v.values()) > 0, "row counts >= 0, not all 0"),
    }


@dataclass(frozen=True)
class AugmentConfig(Checked):
    flip: bool  # horizontal
    shift: float  # fraction of the image side
    rotation: float  # degrees
    zoom: float  # fraction
    erasing: float  # probability that a face has a random rectangle replaced by noise
    mix: Literal["none", "mixup", "cutmix"]  # blend each face (mixup) or paste a box of it (cutmix) into another
    mix_alpha: float  # the Beta(alpha, alpha) the mixing weights are drawn from

    RULES = {"shift": FRACTION, "rotation": NON_NEGATIVE, "zoom": FRACTION, "erasing": FRACTION, "mix_alpha": POSITIVE}


@dataclass(frozen=True)
class ScheduleConfig(Checked):
    kind: Literal["none", "plateau", "cosine", "one_cycle"]
    factor: float  # plateau: multiply lr by this when val accuracy stalls
    patience: int  # plateau: epochs without improvement before that
    min_lr: float
    warmup: float  # one_cycle: the fraction of the epochs that lr rises over before its cosine descent

    RULES = {"factor": OPEN_FRACTION, "patience": NON_NEGATIVE, "min_lr": NON_NEGATIVE, "warmup": FRACTION}


@dataclass(frozen=True)
class TrainConfig(Checked):
    arch: Literal[
        "alexnet_seed", "resnet_small", "tiny_cnn", "vgg_bn", "vgg_small"
    ]  # ferpipe.models.ARCHITECTURES (a test holds them equal)
    loss: Literal["categorical_crossentropy", "binary_crossentropy"]
    optimizer: Literal["adam", "adamw", "sgd"]
    lr: float
    weight_decay: float
    epochs: int
    batch_size: int
    seed: int
    label_smoothing: float
    augment: AugmentConfig
    schedule: ScheduleConfig
    early_stopping_patience: int  # 0: off
    class_weights: bool  # weight the loss by inverse class frequency
    # Momentum of an exponential moving average of the weights (0: off): validated, checkpointed and
    # kept in its place (Keras' optimizer EMA; ferpipe.train.recipe.ema_callbacks).
    ema: float
    subset: int  # train and validate on at most this many rows per split (0: all); for smoke runs
    distribute: Literal["none", "mirrored", "multi_worker"]  # see ferpipe.train.distribute
    # mixed_bfloat16: Keras' mixed precision, bfloat16 compute with float32 weights; needs a CPU
    # with AVX-512 BF16 or AMX, and falls back to float32, saying so, on one without.
    precision: Literal["float32", "mixed_bfloat16"]
    # The network sees the centre crop of this side (0: the whole face): fewer multiply-adds, and,
    # after augment.shift's random shift, a random crop in training (see ferpipe.models).
    crop: int

    RULES = {
        "lr": RATE,
        "weight_decay": NON_NEGATIVE,
        "epochs": AT_LEAST_ONE,
        "batch_size": AT_LEAST_ONE,
        "seed": NON_NEGATIVE,
        "label_smoothing": FRACTION,
        "ema": FRACTION,
        "early_stopping_patience": NON_NEGATIVE,
        "subset": NON_NEGATIVE,
        "crop": (lambda v: v == 0 or 16 <= v <= 48, "0, or a side of 16 to 48 pixels"),
    }


TestTimeViews = Literal["none", "flip", "ten_crop"]  # what evaluate.tta may name


@dataclass(frozen=True)
class EvaluateConfig(Checked):
    batch_size: int
    bootstrap_samples: int  # resamples for the 95% interval of accuracy
    seed: int
    misclassified_shown: int
    # Test-time augmentation: average the softmax over views of each face (val and test alike).
    tta: TestTimeViews
    # Temperature scaling fitted on val (PublicTest): ferpipe.evaluate.calibration.
    calibration: Literal["temperature", "none"]

    RULES = {
        "batch_size": AT_LEAST_ONE,
        "bootstrap_samples": AT_LEAST_ONE,
        "seed": NON_NEGATIVE,
        "misclassified_shown": NON_NEGATIVE,
    }


@dataclass(frozen=True)
class TrackingConfig(Checked):
    experiment: str
    registered_model: str  # models trained on synthetic data or FER+ labels get a suffix
    promotion_metric: Literal["val_accuracy", "val_macro_f1"]  # never a test metric
    promotion_margin: float  # the challenger must beat the champion by at least this

    RULES = {"experiment": NAME, "registered_model": NAME, "promotion_margin": FINITE}


@dataclass(frozen=True)
class Config:
    ingest: IngestConfig
    synthetic: SyntheticConfig
    train: TrainConfig
    evaluate: EvaluateConfig
    tracking: TrackingConfig


def load_config(path: Path | str = DEFAULT_PARAMS, overrides: Sequence[str] = ()) -> Config:
    """Read params.yaml, then apply `group.key=value` overrides (as `dvc exp run -S` writes them)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: params file not found") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: {yaml_problem(error)}") from None
    for override in overrides:
        key, separator, value = override.partition("=")
        if not separator or not key:
            raise ConfigError(f"override {override!r}: expected group.key=value")
        *parents, leaf = key.split(".")
        node = raw
        for parent in parents:
            node = node.setdefault(parent, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {override!r}: {parent} is not a group")
        try:
            node[leaf] = yaml.safe_load(value)
        except yaml.YAMLError as error:
            raise ConfigError(f"override {override!r}: {yaml_problem(error)}") from None
    return build(Config, raw, where=str(path))


def yaml_problem(error: yaml.YAMLError) -> str:
    """One line: what PyYAML found wrong and where (line and column, counted from 1)."""
    mark = getattr(error, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    return f"{where}not valid YAML ({getattr(error, 'problem', None) or error})"


def build(cls: type, raw: Any, where: str) -> Any:
    """Build dataclass `cls` from a mapping, coercing each value to its declared type."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known keys: {sorted(names)}")
    missing = [name for name in hints if name in names and name not in raw]
    if missing:
        raise ConfigError(f"{where}: missing key(s) {missing}; params.yaml must set every key (see conf/)")
    values = {name: coerce(hints[name], raw[name], f"{where}: {name}") for name in raw}
    try:
        return cls(**values)
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from None


def coerce(kind: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(kind)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return build(kind, value, where)
    if origin is Literal:
        if value not in typing.get_args(kind):
            raise ConfigError(f"{where}: {value!r} is not one of {list(typing.get_args(kind))}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(kind)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return coerce(inner, value, where)
    if origin is dict:
        key_kind, value_kind = typing.get_args(kind)
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return {coerce(key_kind, k, where): coerce(value_kind, v, f"{where}.{k}") for k, v in value.items()}
    if origin in (list, tuple):
        (item_kind, *_) = typing.get_args(kind)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return origin(coerce(item_kind, v, where) for v in value)
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if kind in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected {kind.__name__}, got {value!r}") from None
        if kind is int:
            # MLproject has no integer type: accept 14.0, refuse 14.5.
            if not number.is_integer():
                raise ConfigError(f"{where}: expected an integer, got {value!r}")
            return int(number)
        return number
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise TypeError(f"config type {kind!r} at {where} is not supported")  # a programming error
