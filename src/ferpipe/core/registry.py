"""The MLflow model registry: every evaluated model becomes a version; aliases do the rest.

`challenger` marks the newest evaluated version; `champion` moves to it only through
`promote`, when it beats the champion on a validation metric (PublicTest: the test split is
for reporting, not for selection) by a margin, or when forced. `rollback` returns
`champion` to the version it replaced. No deprecated registry stages are used.

MLflow has no compare-and-set for aliases: two commands that each read the champion and then
move it could both act on the same one. So every read-then-write of a registered model's
aliases (register, promote, rollback) holds a lock for that model in that store, and reads
inside it. The lock is a file on this machine: it serialises the commands of one machine, not
of several machines sharing a tracking server.
"""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from filelock import FileLock
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

CHALLENGER, CHAMPION = "challenger", "champion"


LABEL_FAMILIES = ("fer2013", "ferplus")


def label_family(labels: str) -> str:
    """fer2013 or ferplus: models of one family answer the same question on the same test faces."""
    return "ferplus" if labels.startswith("ferplus") else "fer2013"


def registered_name(base: str, data: str, labels: str = "fer2013") -> str:
    """FER+ models and synthetic-data models live under their own names, so that a model is only
    ever compared with, and can only replace, one that answers the same question on the same data."""
    name = base if label_family(labels) == "fer2013" else f"{base}-ferplus"
    return name if data == "real" else f"{name}-{data}"


@contextlib.contextmanager
def locked(name: str) -> Iterator[None]:
    """Hold the lock of registered model `name` in the current tracking store."""
    key = hashlib.sha256(f"{mlflow.get_tracking_uri()}\0{name}".encode()).hexdigest()[:16]
    with FileLock(Path(tempfile.gettempdir()) / f"ferpipe-registry-{key}.lock"):
        yield


DESCRIPTION_LIMIT = 5000  # characters MLflow's stores keep of a version's description


def register(model_uri: str, name: str, tags: dict[str, Any], description: str | None = None) -> str:
    """Register the logged model (`models:/m-...`, as `log_model` returned it) tagged with `tags` and
    described by `description` (its model card), and alias it `challenger`. A model is registered
    once: a retry (the pipeline killed after registering, then run again) or a re-evaluation
    retags its version instead of adding one."""
    client = MlflowClient()
    model_id = model_uri.removeprefix("models:/")
    tags = {k: str(v) for k, v in tags.items()}
    with locked(name):
        try:
            client.get_registered_model(name)
        except MlflowException:
            family = "FER+ (8 classes, ten-annotator labels)" if "-ferplus" in name else "FER2013 (7 classes)"
            client.create_registered_model(name, description=f"{family} facial-expression classifiers.")
        version = next((v for v in client.search_model_versions(f"name = '{name}'") if v.source == model_uri), None)
        if version is None:
            # The client's own call, not mlflow.register_model: that one prints "already exists" for
            # every version after the first.
            version = client.create_model_version(
                name, source=model_uri, run_id=tags.get("run_id"), tags=tags, model_id=model_id
            )
        else:
            for key, value in tags.items():
                client.set_model_version_tag(name, version.version, key, value)
        if description:  # the model card, shown on the version's page
            client.update_model_version(name, version.version, description=description[:DESCRIPTION_LIMIT])
        client.set_registered_model_alias(name, CHALLENGER, version.version)
    return str(version.version)


def alias_version(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def has_challenger(name: str) -> bool:
    return alias_version(MlflowClient(), name, CHALLENGER) is not None


@dataclass(frozen=True)
class Decision:
    promoted: bool
    reason: str
    challenger: str | None
    champion_before: str | None


def promote(name: str, metric: str, margin: float, force: bool = False) -> Decision:
    with locked(name):
        return _promote(MlflowClient(), name, metric, margin, force)


def _promote(client: MlflowClient, name: str, metric: str, margin: float, force: bool) -> Decision:
    challenger = alias_version(client, name, CHALLENGER)
    if challenger is None:
        raise ValueError(f"registered model {name!r} has no {CHALLENGER!r} version: run the pipeline first")
    champion = alias_version(client, name, CHAMPION)
    if champion is not None and champion.version == challenger.version:
        return Decision(
            False, f"version {challenger.version} is already the champion", challenger.version, champion.version
        )

    new = _score(challenger, metric)
    if champion is None:
        promoted, reason = True, f"no champion yet; version {challenger.version} has {metric} {new:.4f}"
    else:
        old = _score(champion, metric)
        beats = new >= old + margin
        comparison = (
            f"challenger v{challenger.version} {metric} {new:.4f} vs champion v{champion.version} "
            f"{old:.4f} (required margin {margin:+.4f})"
        )
        if beats:
            promoted, reason = True, f"{comparison}: better"
        elif force:
            promoted, reason = True, f"{comparison}: not better, promoted with --force"
        else:
            promoted, reason = False, f"{comparison}: not better; refused (use --force to promote anyway)"
    if promoted:
        if champion is not None:
            client.set_model_version_tag(name, challenger.version, "previous_champion", champion.version)
        client.set_model_version_tag(name, challenger.version, "promotion_reason", reason)
        client.set_registered_model_alias(name, CHAMPION, challenger.version)
    else:
        client.set_model_version_tag(name, challenger.version, "promotion_refused", reason)
    return Decision(promoted, reason, challenger.version, champion.version if champion else None)


def rollback(name: str) -> str:
    """Put `champion` back on the version the current champion replaced; return that version."""
    with locked(name):
        return _rollback(MlflowClient(), name)


def _rollback(client: MlflowClient, name: str) -> str:
    champion = alias_version(client, name, CHAMPION)
    if champion is None:
        raise ValueError(f"registered model {name!r} has no champion to roll back")
    previous = champion.tags.get("previous_champion")
    if not previous:
        raise ValueError(
            f"champion v{champion.version} of {name!r} replaced no earlier champion; nothing to roll back to"
        )
    client.set_registered_model_alias(name, CHAMPION, previous)
    client.set_model_version_tag(name, champion.version, "rolled_back", f"champion returned to v{previous}")
    return previous


def _score(version: ModelVersion, metric: str) -> float:
    try:
        return float(version.tags[metric])
    except (KeyError, ValueError):
        raise ValueError(f"model version {version.version} has no numeric {metric!r} tag") from None
