"""`params.yaml` → one typed, validated config object, built once and passed down.

YAML is read as written by people and by `dvc exp run -S`, so values are coerced to the
declared field types here (PyYAML reads `1e-4` as a string; the config turns it into 0.0001).
Unknown keys are errors, so a typo in params.yaml never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

DEFAULT_PARAMS = Path("params.yaml")


class ConfigError(ValueError):
    """params.yaml names a key that does not exist or holds a value of the wrong type."""


@dataclass(frozen=True)
class IngestConfig:
    source: str = "data/raw/fer2013.csv"
    on_bad_rows: Literal["fail", "skip"] = "fail"
    # Share of training rows carved off (stratified, seeded) as validation when the source has none.
    val_fraction: float = 0.1
    seed: int = 2013
    # fer2013: the 7 original labels. ferplus_majority / ferplus_probability: the 8 FER+ classes
    # from the vote file below (fer2013new.csv, one row per fer2013.csv row); see ferpipe.data.labels.
    labels: Literal["fer2013", "ferplus_majority", "ferplus_probability"] = "fer2013"
    ferplus_votes: str = "data/raw/fer2013new.csv"  # read only in the FER+ modes


@dataclass(frozen=True)
class SyntheticConfig:
    seed: int = 7
    rows: dict[str, int] = field(
        default_factory=lambda: {"Training": 2871, "PublicTest": 359, "PrivateTest": 359}
    )


@dataclass(frozen=True)
class AugmentConfig:
    flip: bool = True  # horizontal
    shift: float = 0.1  # fraction of the image side
    rotation: float = 10.0  # degrees
    zoom: float = 0.1  # fraction


@dataclass(frozen=True)
class ScheduleConfig:
    kind: Literal["none", "plateau", "cosine"] = "plateau"
    factor: float = 0.5  # plateau: multiply lr by this when val accuracy stalls
    patience: int = 2  # plateau: epochs without improvement before that
    min_lr: float = 1e-5


@dataclass(frozen=True)
class TrainConfig:
    # A preset fixes the recipe fields it names (see PRESETS), whatever else params.yaml says.
    preset: Literal["auto", "none", "smoke", "seed_recipe", "cpu_session"] = "none"
    arch: str = "alexnet_seed"
    loss: Literal["categorical_crossentropy", "binary_crossentropy"] = "categorical_crossentropy"
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    epochs: int = 15
    batch_size: int = 128
    seed: int = 42
    label_smoothing: float = 0.0
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    early_stopping_patience: int = 0  # 0: off
    class_weights: bool = False  # weight the loss by inverse class frequency
    subset: int = 0  # train and validate on at most this many rows per split (0: all); for smoke runs
    distribute: Literal["none", "mirrored", "multi_worker"] = "none"  # see ferpipe.distribute

    def resolved(self, data: str = "real") -> "TrainConfig":
        """This config with its preset applied; `auto` means `smoke` on synthetic data and `none` on real data."""
        preset = self.preset if self.preset != "auto" else ("smoke" if data == "synthetic" else "none")
        return dataclasses.replace(self, preset=preset, **PRESETS[preset])

    def preset_overrides(self, data: str = "real") -> dict[str, tuple[Any, Any]]:
        """The fields the preset changes: name -> (value configured, value the preset sets)."""
        resolved = self.resolved(data)
        return {name: (getattr(self, name), getattr(resolved, name)) for name in PRESETS[resolved.preset]
                if getattr(self, name) != getattr(resolved, name)}


NO_AUGMENTATION = AugmentConfig(flip=False, shift=0.0, rotation=0.0, zoom=0.0)
PRESETS: dict[str, dict[str, Any]] = {
    "none": {},
    # The embedded synthetic faces say nothing about real ones: train a small model on them, in
    # about a minute, so that the whole pipeline can be seen working end to end.
    "smoke": dict(arch="tiny_cnn", epochs=10, batch_size=64),
    # The seed notebook: binary cross-entropy on one-hot labels, Adam 1e-3, batch 128, 9 epochs,
    # no augmentation, schedule, early stopping or class weights.
    "seed_recipe": dict(
        arch="alexnet_seed", loss="binary_crossentropy", optimizer="adam", lr=1e-3, weight_decay=0.0,
        batch_size=128, epochs=9, label_smoothing=0.0, augment=NO_AUGMENTATION,
        schedule=ScheduleConfig(kind="none"), early_stopping_patience=0, class_weights=False,
    ),
    # A real run that fits in one session on a 2-core CPU (on FER2013, 40 minutes with AVX-512, up to 100
    # without): the compact vgg_small, batch 64, Adam 1e-3 annealed to 1e-5 over 16 epochs (cosine),
    # the default augmentation.
    "cpu_session": dict(
        arch="vgg_small", optimizer="adam", lr=1e-3, weight_decay=0.0, batch_size=64, epochs=16,
        schedule=ScheduleConfig(kind="cosine", min_lr=1e-5), early_stopping_patience=0,
    ),
}


@dataclass(frozen=True)
class EvaluateConfig:
    batch_size: int = 256
    bootstrap_samples: int = 1000  # resamples for the 95% interval of accuracy
    seed: int = 0
    misclassified_shown: int = 36
    # Test-time augmentation: average the softmax over views of each face (val and test alike).
    # none; flip: the face and its mirror; ten_crop: 5 shifted views (centre, ±2 px) and their mirrors.
    tta: Literal["none", "flip", "ten_crop"] = "none"


@dataclass(frozen=True)
class TrackingConfig:
    experiment: str = "fer2013"
    # Registered model; models trained on synthetic data get a "-synthetic" suffix.
    registered_model: str = "fer2013-expression"
    promotion_metric: Literal["val_accuracy", "val_macro_f1"] = "val_accuracy"  # never a test metric
    promotion_margin: float = 0.0  # the challenger must beat the champion by at least this


@dataclass(frozen=True)
class Config:
    ingest: IngestConfig = field(default_factory=IngestConfig)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)


def load_config(path: Path | str = DEFAULT_PARAMS, overrides: Sequence[str] = ()) -> Config:
    """Read params.yaml, then apply `group.key=value` overrides (as `dvc exp run -S` writes them)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: params file not found") from None
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
        node[leaf] = yaml.safe_load(value)
    return build(Config, raw, where=str(path))


def build(cls: type, raw: Any, where: str) -> Any:
    """Build dataclass `cls` from a mapping, coercing each value to its declared type."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known keys: {sorted(names)}")
    values = {name: coerce(hints[name], raw[name], f"{where}: {name}") for name in raw}
    return cls(**values)


def coerce(kind: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(kind)
    if dataclasses.is_dataclass(kind):
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
