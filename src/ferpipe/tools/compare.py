"""Runs side by side: params, validation and test accuracy with intervals, confusion matrices.

Reads the MLflow store (the same runs `dvc exp show` lists) and writes a markdown table and
one PNG with every run's row-normalised confusion matrix.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mlflow  # noqa: E402
from matplotlib.image import imread  # noqa: E402

PARAMS_SHOWN = ("arch", "loss", "optimizer", "lr", "epochs", "batch_size", "label_smoothing", "data")
CONFUSION_ARTIFACT = "evaluation/confusion_matrix_normalized.png"


def compared_runs(experiment: str, limit: int, run_ids: list[str] | None = None) -> list:
    """The runs named, or the latest `limit` that were evaluated or only trained, oldest first. A
    search trains its candidates only (`dvc exp run train`): their val accuracy chooses, and the
    test split stays unread until the winner is evaluated."""
    from mlflow.exceptions import MlflowException

    if run_ids:
        runs = []
        for run_id in run_ids:
            try:
                runs.append(mlflow.get_run(run_id))
            except MlflowException:
                raise ValueError(f"{run_id}: no such run in this MLflow store ({mlflow.get_tracking_uri()})") from None
        return runs
    found = {}
    for scored in ("metrics.`eval.test.accuracy` >= 0", "metrics.best_val_accuracy >= 0"):
        for run in mlflow.search_runs(
            experiment_names=[experiment],
            filter_string=scored,
            output_format="list",
            order_by=["attributes.start_time DESC"],
            max_results=limit,
        ):
            found[run.info.run_id] = run
    latest = sorted(found.values(), key=lambda run: run.info.start_time, reverse=True)[:limit]
    return list(reversed(latest))


NOT_COMPARED = ("train_rows", "val_rows")  # params that follow from the data, not the recipe


def differing_params(runs: list) -> list[str]:
    """Params beyond PARAMS_SHOWN whose values differ between the runs: what a search varied."""
    names = {name for run in runs for name in run.data.params} - set(PARAMS_SHOWN) - set(NOT_COMPARED)
    return sorted(name for name in names if len({run.data.params.get(name) for run in runs}) > 1)


def markdown_table(runs: list) -> str:
    # FER2013 and FER+ test accuracies are measured against different labels: the column says which.
    varied = differing_params(runs)
    header = [
        "run",
        "labels",
        *PARAMS_SHOWN,
        *varied,
        "train min",
        "train img/s",
        "val accuracy",
        "test accuracy (95% CI)",
        "test unseen in train",
        "ECE → calibrated",
        "seed binary acc",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for run in runs:
        params, metrics = run.data.params, run.data.metrics
        test = metrics.get("eval.test.accuracy")
        interval = (
            f"{test:.4f} ({metrics['eval.test.accuracy_ci95.low']:.4f}–{metrics['eval.test.accuracy_ci95.high']:.4f})"
            if test is not None and "eval.test.accuracy_ci95.low" in metrics
            else "not evaluated"
            if test is None
            else "–"
        )
        ece = (
            f"{metrics['eval.calibration.before.ece']:.3f} → {metrics['eval.calibration.after.ece']:.3f}"
            if "eval.calibration.after.ece" in metrics
            else "–"
        )
        cells = [
            run.info.run_name or run.info.run_id[:8],
            run.data.tags.get("labels", "fer2013"),
            *(params.get(p, "–") for p in (*PARAMS_SHOWN, *varied)),
            # With epochs, what a run cost: recipes are compared within a time budget (CPU training minutes, BENCHMARKS.md).
            _number(metrics.get("train_minutes"), 1),
            _number(metrics.get("train_images_per_second"), 1),
            _number(metrics.get("eval.val_accuracy", metrics.get("best_val_accuracy"))),
            interval,
            _number(metrics.get("eval.test_unseen_in_train.accuracy")),
            ece,
            _number(metrics.get("eval.seed_binary_accuracy")),
        ]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines) + "\n"


def _number(value: float | None, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def confusion_grid(runs: list, path: Path) -> None:
    figure, axes = plt.subplots(1, len(runs), figsize=(5.5 * len(runs), 5), squeeze=False)
    for axis, run in zip(axes[0], runs, strict=True):
        axis.axis("off")
        try:
            image = imread(
                mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path=CONFUSION_ARTIFACT)
            )
            axis.imshow(image)
        except (OSError, mlflow.exceptions.MlflowException):
            axis.text(0.5, 0.5, "no confusion matrix logged", ha="center", va="center")
        axis.set_title(run.info.run_name or run.info.run_id[:8], fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def compare(
    experiment: str, out_dir: Path, limit: int = 10, run_ids: list[str] | None = None, by_val: bool = False
) -> str:
    """The table (also written to `out_dir`), in the order the runs were made or, `by_val`, best
    val accuracy first: a search's ranking."""
    runs = compared_runs(experiment, limit, run_ids)
    if not runs:
        raise ValueError(f"no trained or evaluated runs in MLflow experiment {experiment!r}")
    if by_val:
        runs.sort(
            key=lambda run: -run.data.metrics.get("eval.val_accuracy", run.data.metrics.get("best_val_accuracy", 0))
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    table = markdown_table(runs)
    (out_dir / "runs.md").write_text(
        f"# Runs of {experiment}\n\n{table}\n![confusion matrices](confusion_matrices.png)\n"
    )
    confusion_grid(runs, out_dir / "confusion_matrices.png")
    return table
