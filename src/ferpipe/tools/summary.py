"""What a person reads after `make pipeline`: the result, honestly labelled, and what to do next."""

from __future__ import annotations

import json
from pathlib import Path

from ferpipe.core.paths import EvaluateOutputs, TrainOutputs

# `dvc exp show` gives every param and every file a stage depends on a column, far wider than a
# screen, and has no setting for its default columns: this view keeps the metrics and the params
# that differ between the experiments shown.
EXPERIMENTS_VIEW = "dvc exp show --only-changed --drop 'Created|.*/'"


def summary(
    metrics_path: Path = EvaluateOutputs.metrics,
    details_path: Path = EvaluateOutputs.details,
    run_path: Path = TrainOutputs.run,
) -> str:
    figures = json.loads(Path(metrics_path).read_text())
    details = json.loads(Path(details_path).read_text())
    experiment = json.loads(Path(run_path).read_text())["experiment_id"] if Path(run_path).exists() else None
    synthetic = details["data"] == "synthetic"
    registered = "--data synthetic" if synthetic else ""
    lines = [
        f"test accuracy {figures['test_accuracy']:.4f} (95% CI {figures['ci95_low']:.4f}-{figures['ci95_high']:.4f}) "
        f"on {details['test']['rows']} {details['split']} faces, {details['labels']} labels, {details['data']} data",
        f"calibration: ECE {figures['ece']:.3f}, {figures['ece_calibrated']:.3f} after temperature scaling "
        f"(T = {figures['temperature']:.2f}, fitted on val)",
        f"the seed's metric on the same model: binary accuracy {figures['seed_binary_accuracy']:.4f} "
        f"(an all-zeros output scores {details['all_zeros_binary_accuracy']:.4f} on it)",
        *(["SYNTHETIC data: these figures say nothing about real faces (README: The real data)"] if synthetic else []),
        "reports: reports/eval/ (confusion, per-class scores, mistakes, reliability); dvc plots show → dvc_plots/index.html",
        "next:    mlflow ui --backend-store-uri sqlite:///mlflow.db",
        # The UI opens on its GenAI overview unless the address asks for model training.
        *(
            [f"         then http://127.0.0.1:5000/#/experiments/{experiment}?workflowType=machine_learning"]
            if experiment
            else []
        ),
        "         dvc exp run -S train.lr=1e-4",
        f"         {EXPERIMENTS_VIEW}",
        f"         ferpipe predict {TrainOutputs.lite_model} photo.jpg faces.csv   # no TensorFlow needed",
        f"         ferpipe promote {registered}".rstrip(),
    ]
    return "\n".join(lines)
