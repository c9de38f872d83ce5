"""Stage `evaluate`: the trained model on `test` (PrivateTest), touched once, with honest metrics.

Labels are those of `ingest.labels`: in FER+ modes, accuracy is against the FER+ majority
label, and the agreement with the original FER2013 labels is reported beside it. The figures
come from ferpipe.evaluate.metrics; this module loads, writes the reports, logs them to the
training run, and registers the model as the `challenger`; the report files are ferpipe.evaluate.reports'.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import keras  # loaded with the stage, while its start-up noise is silenced (ferpipe.core.entry)

from ferpipe.core import registry, tracking
from ferpipe.core.arrays import (
    ARRAYS,
    load_array,
    load_optional,
    load_split,
    read_manifest,
)
from ferpipe.core.config import Config, EvaluateConfig, TrackingConfig
from ferpipe.core.files import clear, reading
from ferpipe.core.inference import Calibration, class_probabilities
from ferpipe.core.paths import EvaluateOutputs, TrainOutputs
from ferpipe.evaluate import reports
from ferpipe.evaluate.card import model_card
from ferpipe.evaluate.metrics import evaluation_metrics, headline

log = logging.getLogger(__name__)


def run(config: Config) -> None:
    """Stage evaluate: the trained model on test (PrivateTest), once; metrics, plots, a model card, MLflow."""
    evaluate(config.evaluate, config.tracking, reproduce=reproduction(config))


def reproduction(config: Config) -> str:
    """The command that trains and evaluates this model again: its commit, every data, training and
    evaluation param (defaults change between commits; explicit values do not)."""
    params = tracking.flatten(
        {
            "ingest": dataclasses.asdict(config.ingest),
            "train": dataclasses.asdict(config.train),
            "evaluate": dataclasses.asdict(config.evaluate),
        }
    )
    return f"git checkout {tracking.git_commit() or 'HEAD'} && dvc exp run " + " ".join(
        f"-S {key}={str(value).lower() if isinstance(value, bool) else value}" for key, value in params.items()
    )


def evaluate(
    config: EvaluateConfig,
    tracking_config: TrackingConfig,
    model_path: Path = TrainOutputs.model,
    arrays: Path = ARRAYS,
    run_file: Path = TrainOutputs.run,
    train_summary: Path | None = TrainOutputs.metrics,
    outputs: EvaluateOutputs = EvaluateOutputs(),
    reproduce: str = "see its MLflow run",
) -> dict[str, Any]:
    clear(*vars(outputs).values())
    manifest = read_manifest(arrays)
    names = manifest["label_names"]
    with reading(model_path, made_by="train"):
        model = keras.saving.load_model(model_path)
    split = "test" if manifest["splits"]["test"]["count"] else "val"
    if split == "val":
        log.warning("the data has no test split (train.csv form): evaluating on val, which also selected the model")
    x_eval, y_eval = load_split(arrays, split)
    x_val, y_val = load_split(arrays, "val")
    eval_probabilities = class_probabilities(model, x_eval, config.batch_size, config.tta)
    val_probabilities = (
        eval_probabilities if split == "val" else class_probabilities(model, x_val, config.batch_size, config.tta)
    )
    metrics = {
        "data": manifest["data"],
        "split": f"{split} ({'PrivateTest' if split == 'test' else 'PublicTest'})",
        "tta": config.tta,
        **evaluation_metrics(
            names,
            y_eval,
            eval_probabilities,
            load_array(Path(arrays) / f"{split}_seen_in_train.npy"),
            y_val,
            val_probabilities,
            config,
            load_optional(arrays, f"fer2013_{split}"),
            evaluated_on_val=split == "val",
        ),
        "labels": manifest["labels"],  # trained on; FER+ modes are all judged on the FER+ majority label
        "evaluated_on": "ferplus_majority" if manifest["labels"] != "fer2013" else "fer2013",
    }
    best_epoch = None  # none for ensembles
    if train_summary:
        with reading(train_summary, made_by="train"):
            best_epoch = json.loads(Path(train_summary).read_text())["best_epoch"]
    card = model_card(
        metrics,
        manifest,
        {
            "model": model.name,
            "parameters": model.count_params(),
            "commit": tracking.git_commit(),
            "experiment": tracking.run_name(),
            "reproduce": reproduce,
        },
    )
    reports.write_reports(
        outputs,
        metrics,
        headline(metrics, best_epoch),
        names,
        x_eval,
        y_eval,
        eval_probabilities,
        f"{split}, {manifest['data']} data",
        config.misclassified_shown,
        model,
        card,
    )
    recorded = {}
    if Path(run_file).exists():
        with reading(run_file, made_by="train"):
            recorded = json.loads(Path(run_file).read_text())
    with tracking.open_run(tracking_config.experiment, recorded.get("run_id")) as run:
        log_evaluation(metrics, outputs, manifest, new_run="run_id" not in recorded)
        if "model_uri" in recorded:
            # What the logged model will answer with: evaluated as it is measured here.
            tracking.log_calibration(
                recorded["model_uri"], Calibration(metrics["calibration"]["temperature"], config.tta)
            )
            register(recorded["model_uri"], metrics, manifest, tracking_config, run.info.run_id, card)
        else:
            log.warning("no trained model recorded in %s: metrics logged to a new run, model not registered", run_file)
    test = metrics["test"]
    log.info(
        "%s accuracy %.4f (95%% CI %.4f-%.4f) on %s labels, macro-F1 %.4f; seed's binary accuracy %.4f",
        split,
        test["accuracy"],
        *test["accuracy_ci95"],
        metrics["evaluated_on"],
        test["macro_f1"],
        metrics["seed_binary_accuracy"],
    )
    return metrics


def log_evaluation(metrics: dict[str, Any], outputs: EvaluateOutputs, manifest: dict[str, Any], new_run: bool) -> None:
    import mlflow

    if new_run:
        mlflow.set_tags(tracking.run_tags(manifest))
    mlflow.set_tag("evaluate.tta", metrics["tta"])  # a tag: evaluate may run again in the same run
    flat = tracking.flatten(metrics)
    numbers = {k: v for k, v in flat.items() if isinstance(v, (int, float))}
    numbers.update({f"{k}.low": v[0] for k, v in flat.items() if k.endswith("ci95")})
    numbers.update({f"{k}.high": v[1] for k, v in flat.items() if k.endswith("ci95")})
    # "eval." keeps these apart from the per-epoch training curves (val_accuracy, ...).
    mlflow.log_metrics({f"eval.{k}": v for k, v in numbers.items()})
    for path in vars(outputs).values():
        mlflow.log_artifact(str(path), artifact_path="evaluation")


def register(
    model_uri: str,
    metrics: dict[str, Any],
    manifest: dict[str, Any],
    tracking_config: TrackingConfig,
    run_id: str,
    card: str,
) -> None:
    """The model as a version of the registered model for this data and label family (one version a
    logged model), with its figures and card, alias `challenger`."""
    name = registry.registered_name(tracking_config.registered_model, manifest["data"], manifest["labels"])
    tags = {
        "val_accuracy": metrics["val_accuracy"],
        "val_macro_f1": metrics["val_macro_f1"],
        "test_accuracy": metrics["test"]["accuracy"],
        "test_accuracy_ci95": metrics["test"]["accuracy_ci95"],
        "seed_binary_accuracy": metrics["seed_binary_accuracy"],
        "run_id": run_id,
        **tracking.run_tags(manifest),
        "temperature": metrics["calibration"]["temperature"],
        "test_ece": metrics["calibration"]["before"].get("ece"),
        "test_ece_calibrated": metrics["calibration"]["after"].get("ece"),
        "evaluate.tta": metrics["tta"],
    }
    version = registry.register(model_uri, name, tags, description=card)
    log.info(
        "registered %s version %s as %r; `ferpipe promote` decides on champion", name, version, registry.CHALLENGER
    )
