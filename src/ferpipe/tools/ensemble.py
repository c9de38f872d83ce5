"""Ensembles: the averaged class probabilities of trained models, members chosen on PublicTest.

The ensemble is itself a Keras model (the members side by side, their softmax outputs
averaged), so it is evaluated, logged, registered, promoted and served like any single
network. Members are chosen on the validation split (PublicTest) only: greedy forward
selection (Caruana et al., 2004) starts from the best single model and keeps adding the
candidate that raises the ensemble's validation accuracy most, until none does. The test
split is touched once, by the evaluation of the chosen ensemble.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ferpipe.core import tracking
from ferpipe.core.arrays import ARRAYS, load_split, read_manifest
from ferpipe.core.config import EvaluateConfig, TrackingConfig
from ferpipe.core.files import atomic_outputs, write_json
from ferpipe.core.inference import class_probabilities
from ferpipe.core.paths import EvaluateOutputs
from ferpipe.evaluate.stage import evaluate

log = logging.getLogger(__name__)


def _evaluation_outputs() -> EvaluateOutputs:
    folder = Path("reports/ensemble")
    return EvaluateOutputs(**{name: folder / Path(path).name for name, path in vars(EvaluateOutputs()).items()})


@dataclass(frozen=True)
class EnsembleOutputs:
    model: Path = Path("models/ensemble.keras")
    members: Path = Path("reports/ensemble/members.json")
    run: Path = Path("reports/ensemble/mlflow_run.json")
    evaluation: EvaluateOutputs = field(default_factory=_evaluation_outputs)


def choose_members(val_probabilities: list[np.ndarray], y_val: np.ndarray) -> list[int]:
    """Indices of the candidates that greedy forward selection on validation accuracy keeps."""

    def accuracy(indices: list[int]) -> float:
        return float(np.mean(np.mean([val_probabilities[i] for i in indices], axis=0).argmax(axis=1) == y_val))

    chosen = [max(range(len(val_probabilities)), key=lambda i: accuracy([i]))]
    while True:
        rest = [i for i in range(len(val_probabilities)) if i not in chosen]
        if not rest:
            return chosen
        best = max(rest, key=lambda i: accuracy(chosen + [i]))
        if accuracy(chosen + [best]) <= accuracy(chosen):
            return chosen
        chosen.append(best)


def average_model(members: list):
    """One Keras model whose output is the mean of the members' class probabilities."""
    import keras

    inputs = keras.Input(members[0].input_shape[1:])
    outputs = []
    for number, member in enumerate(members, start=1):
        member.name = f"member_{number}"  # members often share an architecture, and so a name
        outputs.append(member(inputs))
    averaged = keras.layers.Average()(outputs) if len(outputs) > 1 else outputs[0]
    return keras.Model(inputs, averaged, name="ensemble")


def ensemble(
    references: list[str],
    evaluate_config: EvaluateConfig,
    tracking_config: TrackingConfig,
    select: bool = True,
    arrays: Path = ARRAYS,
    outputs: EnsembleOutputs = EnsembleOutputs(),
) -> dict[str, Any]:
    import mlflow

    from ferpipe.tools.models import load_model

    if not references:
        raise ValueError(
            "ensemble: name at least one model (models:/name/version, models:/name@alias, runs:/id/model, "
            "or a .keras file)"
        )
    manifest = read_manifest(arrays)
    x_val, y_val = load_split(arrays, "val")
    members = [load_model(reference) for reference in references]
    classes = len(manifest["label_names"])
    for reference, member in zip(references, members, strict=True):
        if member.output_shape[-1] != classes:
            raise ValueError(
                f"{reference}: predicts {member.output_shape[-1]} classes, but the data in {arrays} has "
                f"{classes} ({manifest['labels']} labels); ensemble models trained on the same labels"
            )
    val_probabilities = [
        class_probabilities(member, x_val, evaluate_config.batch_size, evaluate_config.tta) for member in members
    ]
    single = [float(np.mean(p.argmax(axis=1) == y_val)) for p in val_probabilities]
    chosen = choose_members(val_probabilities, y_val) if select else list(range(len(members)))
    for number, (reference, accuracy) in enumerate(zip(references, single, strict=True)):
        log.info("candidate %s: val accuracy %.4f%s", reference, accuracy, "" if number in chosen else " (left out)")
    model = average_model([members[i] for i in chosen])
    summary: dict[str, Any] = {
        "candidates": [{"model": r, "val_accuracy": a} for r, a in zip(references, single, strict=True)],
        "members": [references[i] for i in chosen],
        "selected_on": "val (PublicTest)" if select else "none",
    }

    with tracking.open_run(tracking_config.experiment, name="ensemble") as run:
        mlflow.set_tags(
            {**tracking.run_tags(manifest), "stage": "ensemble", "ensemble.members": " ".join(summary["members"])}
        )
        mlflow.log_params(
            {
                "arch": "ensemble",
                "members": len(chosen),
                "candidates": len(references),
                "evaluate.tta": evaluate_config.tta,
            }
        )
        model_uri = tracking.log_model(model, x_val[:8], manifest["label_names"], manifest["data"])
    with atomic_outputs(outputs.model, outputs.members, outputs.run) as staged:
        model.save(staged(outputs.model))
        write_json(staged(outputs.members), summary)
        write_json(
            staged(outputs.run),
            {"run_id": run.info.run_id, "experiment_id": run.info.experiment_id, "model_uri": model_uri},
        )
    metrics = evaluate(
        evaluate_config,
        tracking_config,
        model_path=outputs.model,
        arrays=arrays,
        train_summary=None,
        run_file=outputs.run,
        outputs=outputs.evaluation,
    )
    log.info("ensemble of %d: val accuracy %.4f (best single %.4f)", len(chosen), metrics["val_accuracy"], max(single))
    return {**metrics, **summary}
