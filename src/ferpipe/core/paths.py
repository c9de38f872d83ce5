"""Every file a stage writes, named once. dvc.yaml names the same paths; a test holds them equal.

Each stage takes its outputs as one of these records, so tests can redirect them; the
defaults are the pipeline's layout, relative to the repository root where DVC runs stages.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SynthesizeOutputs:
    faces: Path = Path("data/synthetic/fer2013.csv")
    votes: Path = Path("data/synthetic/fer2013new.csv")


@dataclass(frozen=True)
class IngestOutputs:
    faces: Path = Path("data/validated/faces.parquet")
    rejected: Path = Path("data/validated/rejected_rows.csv")
    report: Path = Path("reports/data/data_report.json")
    class_table: Path = Path("reports/data/class_distribution.csv")
    class_plot: Path = Path("reports/data/class_distribution.png")


@dataclass(frozen=True)
class ConvertOutputs:
    arrays: Path = Path("data/arrays")


@dataclass(frozen=True)
class TrainOutputs:
    model: Path = Path("models/model.keras")
    lite_model: Path = Path("models/model.tflite")  # the same network for LiteRT: prediction without TensorFlow
    # Beside both, with their stem: the kind of data and the class names, read when a bare file is predicted with.
    record: Path = Path("models/model.json")
    history: Path = Path("reports/train/history.csv")
    metrics: Path = Path("reports/train/train_metrics.json")
    run: Path = Path("reports/train/mlflow_run.json")


@dataclass(frozen=True)
class EvaluateOutputs:
    metrics: Path = Path("reports/eval/metrics.json")  # the headline figures (`dvc metrics show`)
    details: Path = Path("reports/eval/details.json")  # every figure, per class included
    card: Path = Path("reports/eval/model_card.md")  # what the model is, its results, what it is for and not for
    predictions: Path = Path("reports/eval/predictions.csv")
    confusion: Path = Path("reports/eval/confusion_matrix.png")
    confusion_normalized: Path = Path("reports/eval/confusion_matrix_normalized.png")
    per_class: Path = Path("reports/eval/per_class.png")
    misclassified: Path = Path("reports/eval/misclassified.png")
    explanations: Path = Path("reports/eval/explanations.png")  # Grad-CAM: the mistakes above, and each class
    reliability: Path = Path("reports/eval/reliability.png")  # calibration before and after temperature scaling
    # The diagram's points, as a DVC plot: one series per file (DVC draws files side by side).
    reliability_before: Path = Path("reports/eval/reliability_before.csv")
    reliability_after: Path = Path("reports/eval/reliability_after.csv")


STAGE_OUTPUTS = {
    "synthesize": SynthesizeOutputs,
    "ingest": IngestOutputs,
    "convert": ConvertOutputs,
    "train": TrainOutputs,
    "evaluate": EvaluateOutputs,
}

# Not stage outputs: the exact-resume checkpoints of an interrupted training run (kept between
# runs, ignored by git and DVC), and the local MLflow store at the repository root.
CHECKPOINTS = Path("checkpoints/train")
MLFLOW_DB = "mlflow.db"
MLFLOW_ARTIFACTS = "mlartifacts"
