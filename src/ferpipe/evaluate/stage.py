"""Stage `evaluate`: the trained model on `test` (PrivateTest), touched once, with honest metrics.

Labels are those of `ingest.labels`: in FER+ modes, accuracy is against the FER+ majority
label, and the agreement with the original FER2013 labels is reported beside it.

Reported: accuracy with a 95% bootstrap interval, balanced accuracy, macro-F1, per-class
precision/recall/F1, log loss; the same on the test rows whose exact image is not also in
the training split; and, for comparison with the seed project's "88.6%", Keras' binary
accuracy over the 7 one-hot outputs on PublicTest+PrivateTest (an all-zeros output scores
6/7 = 85.7% on it).
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import (
    balanced_accuracy_score,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
)

from ferpipe.core import registry, tracking
from ferpipe.core.arrays import (
    ARRAYS,
    load_array,
    load_optional,
    load_split,
    read_manifest,
)
from ferpipe.core.config import Config, EvaluateConfig, TrackingConfig
from ferpipe.core.files import atomic_outputs, clear, reading, write_json
from ferpipe.core.inference import class_probabilities
from ferpipe.core.paths import EvaluateOutputs, TrainOutputs
from ferpipe.core.schema import agreement_with_fer2013
from ferpipe.evaluate import plots

log = logging.getLogger(__name__)


def run(config: Config) -> None:
    """Stage evaluate: the trained model on test (PrivateTest), once; metrics, plots, MLflow."""
    evaluate(config.evaluate, config.tracking)


def evaluate(config: EvaluateConfig, tracking_config: TrackingConfig, model_path: Path = TrainOutputs.model,
             arrays: Path = ARRAYS, run_file: Path = TrainOutputs.run,
             outputs: EvaluateOutputs = EvaluateOutputs()) -> dict[str, Any]:
    import keras

    clear(*vars(outputs).values())
    arrays = Path(arrays)
    manifest = read_manifest(arrays)
    names = manifest["label_names"]
    with reading(model_path, made_by="train"):
        model = keras.saving.load_model(model_path)
    split = "test" if manifest["splits"]["test"]["count"] else "val"
    if split == "val":
        log.warning("the data has no test split (train.csv form): evaluating on val, which also selected the model")
    x_eval, y_eval = load_split(arrays, split)
    seen_in_train = load_array(arrays / f"{split}_seen_in_train.npy")
    x_val, y_val = load_split(arrays, "val")
    eval_probabilities = class_probabilities(model, x_eval, config.batch_size, config.tta)
    val_probabilities = eval_probabilities if split == "val" else class_probabilities(model, x_val, config.batch_size, config.tta)

    metrics = {
        "data": manifest["data"],
        "split": f"{split} ({'PrivateTest' if split == 'test' else 'PublicTest'})",
        "tta": config.tta,
        "test": classification_metrics(y_eval, eval_probabilities, names, config),
        "test_unseen_in_train": classification_metrics(y_eval[~seen_in_train], eval_probabilities[~seen_in_train], names, config),
        # Validation figures: what model selection and promotion use.
        "val_accuracy": float(np.mean(val_probabilities.argmax(axis=1) == y_val)),
        "val_macro_f1": float(f1_score(y_val, val_probabilities.argmax(axis=1), labels=list(range(len(names))),
                                       average="macro", zero_division=0)),
        # The seed's metric: Keras binary accuracy on 7 one-hot outputs over PublicTest+PrivateTest.
        "seed_binary_accuracy": seed_binary_accuracy(
            np.concatenate([y_val, y_eval]) if split == "test" else y_val,
            np.concatenate([val_probabilities, eval_probabilities]) if split == "test" else val_probabilities,
            len(names)),
        "all_zeros_binary_accuracy": (len(names) - 1) / len(names),
        "labels": manifest["labels"],  # trained on; FER+ modes are all judged on the FER+ majority label
        "evaluated_on": "ferplus_majority" if manifest["labels"] != "fer2013" else "fer2013",
    }
    fer2013_labels = load_optional(arrays, f"fer2013_{split}")
    if fer2013_labels is not None:
        metrics["agreement_with_fer2013_labels"] = {
            # FER+ models are scored on FER+ labels; how often they name the original label, and how
            # often the FER+ label itself does, on the same faces.
            "model": agreement_with_fer2013(names, eval_probabilities.argmax(axis=1), fer2013_labels),
            "ferplus_label": agreement_with_fer2013(names, y_eval, fer2013_labels),
        }
    predicted = eval_probabilities.argmax(axis=1)
    with atomic_outputs(*vars(outputs).values()) as staged:
        write_json(staged(outputs.metrics), metrics)
        with open(staged(outputs.predictions), "w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(["actual", "predicted"])
            writer.writerows((names[a], names[p]) for a, p in zip(y_eval, predicted))
        label = f"{split}, {manifest['data']} data"
        plots.confusion_matrix_png(y_eval, predicted, names, staged(outputs.confusion), normalize=False,
                                   title=f"Confusion matrix ({label})")
        plots.confusion_matrix_png(y_eval, predicted, names, staged(outputs.confusion_normalized), normalize=True,
                                   title=f"Confusion matrix, row-normalised ({label})")
        plots.per_class_png(metrics["test"]["per_class"], staged(outputs.per_class), f"Per-class scores ({label})")
        plots.misclassified_png(x_eval, y_eval, eval_probabilities, names, staged(outputs.misclassified),
                                config.misclassified_shown, f"Most confident mistakes ({label})")

    log_to_mlflow(metrics, outputs, run_file, tracking_config, manifest)
    test = metrics["test"]
    log.info("%s accuracy %.4f (95%% CI %.4f-%.4f) on %s labels, macro-F1 %.4f; seed's binary accuracy %.4f",
             split, test["accuracy"], *test["accuracy_ci95"], metrics["evaluated_on"], test["macro_f1"],
             metrics["seed_binary_accuracy"])
    return metrics


def classification_metrics(y_true: np.ndarray, probabilities: np.ndarray, names: list[str],
                           config: EvaluateConfig) -> dict[str, Any]:
    if len(y_true) == 0:
        return {"rows": 0}
    labels = list(range(len(names)))
    predicted = probabilities.argmax(axis=1)
    correct = predicted == y_true
    precision, recall, f1, support = precision_recall_fscore_support(y_true, predicted, labels=labels, zero_division=0)
    return {
        "rows": int(len(y_true)),
        "accuracy": float(correct.mean()),
        "accuracy_ci95": bootstrap_interval(correct, config.bootstrap_samples, config.seed),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, predicted)),
        "macro_f1": float(f1_score(y_true, predicted, labels=labels, average="macro", zero_division=0)),
        "log_loss": float(log_loss(y_true, np.clip(probabilities, 1e-7, 1), labels=labels)),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(names, precision, recall, f1, support)
        },
    }


def bootstrap_interval(correct: np.ndarray, samples: int, seed: int) -> list[float]:
    """95% percentile bootstrap interval of the mean of `correct`."""
    rng = np.random.default_rng(seed)
    means = correct[rng.integers(0, len(correct), size=(samples, len(correct)))].mean(axis=1)
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def seed_binary_accuracy(y_true: np.ndarray, probabilities: np.ndarray, num_classes: int) -> float:
    import keras

    metric = keras.metrics.BinaryAccuracy()
    metric.update_state(keras.ops.one_hot(y_true, num_classes), probabilities)
    return float(metric.result())


def log_to_mlflow(metrics: dict[str, Any], outputs: EvaluateOutputs, run_file: Path,
                  tracking_config: TrackingConfig, manifest: dict[str, Any]) -> None:
    import mlflow

    experiment_id = tracking.configure(tracking_config.experiment)
    run_id = json.loads(Path(run_file).read_text())["run_id"] if Path(run_file).exists() else None
    with mlflow.start_run(run_id=run_id, experiment_id=experiment_id,
                          run_name=None if run_id else tracking.run_name()) as run:
        if run_id is None:
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
        if run_id is None:
            log.warning("no training run recorded in %s: metrics logged to a new run, model not registered", run_file)
            return
        name = registry.registered_name(tracking_config.registered_model, manifest["data"], manifest["labels"])
        tags = {
            "val_accuracy": metrics["val_accuracy"], "val_macro_f1": metrics["val_macro_f1"],
            "test_accuracy": metrics["test"]["accuracy"], "test_accuracy_ci95": metrics["test"]["accuracy_ci95"],
            "seed_binary_accuracy": metrics["seed_binary_accuracy"], "run_id": run.info.run_id,
            **tracking.run_tags(manifest),
        }
        version = registry.register(run.info.run_id, name, tags)
        log.info("registered %s version %s as %r; `ferpipe promote` decides on champion", name, version,
                 registry.CHALLENGER)
