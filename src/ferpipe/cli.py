"""`ferpipe`: the command line that dvc.yaml, MLproject and people call. Thin over plain functions."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import typer

from ferpipe.config import ConfigError, load_config

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
PARAMS = typer.Option(Path("params.yaml"), "--params", help="params file (DVC's params.yaml)")
SET = typer.Option([], "--set", "-S", help="override a param for this run: group.key=value (repeatable)")


def _setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


@app.callback()
def main() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
    _setup_logging()


@app.command()
def synthesize(
    out: Path = typer.Option(None, help="where to write the FER2013-format CSV [default: ingest.source]"),
    votes_out: Path = typer.Option(None, help="where to write FER+-style votes for them [default: ingest.ferplus_votes]"),
    if_missing: bool = typer.Option(False, "--if-missing", help="do nothing when a data set is already there"),
    params: Path = PARAMS,
) -> None:
    """Write the embedded synthetic data set (FER2013 CSV format, marked as synthetic) and FER+-style votes."""
    from ferpipe.data.synthetic import write_synthetic_csv

    try:
        config = load_config(params)
        out = out or Path(config.ingest.source)
        votes_out = votes_out or Path(config.ingest.ferplus_votes)
        if if_missing and out.exists():
            typer.echo(f"{out} exists: using it (delete it to regenerate synthetic data)")
            return
        rows = write_synthetic_csv(out, config.synthetic, votes_out)
    except (ConfigError, ValueError) as error:
        _fail(str(error))
    typer.echo(f"wrote {rows} synthetic faces to {out} and their votes to {votes_out} (SYNTHETIC data, not FER2013)")


@app.command()
def ingest(params: Path = PARAMS, overrides: list[str] = SET) -> None:
    """Stage ingest: read ingest.source in any FER2013 form, validate every row, write the data report."""
    from ferpipe.data.ingest import ingest as run_ingest
    from ferpipe.data.readers import DataError

    try:
        run_ingest(load_config(params, overrides).ingest)
    except (ConfigError, DataError) as error:
        _fail(str(error))


@app.command()
def convert() -> None:
    """Stage convert: validated faces → uint8 arrays per split (train/val/test) and a manifest."""
    from ferpipe.data.convert import convert as run_convert

    run_convert()


@app.command()
def train(params: Path = PARAMS, overrides: list[str] = SET) -> None:
    """Stage train: fit train.arch on the train split, keep the best epoch on val, log to MLflow."""
    from ferpipe.train import train as run_train

    try:
        config = load_config(params, overrides)
        run_train(config.train, config.tracking)
    except (ConfigError, ValueError) as error:
        _fail(str(error))


@app.command()
def evaluate(params: Path = PARAMS, overrides: list[str] = SET) -> None:
    """Stage evaluate: the trained model on test (PrivateTest), once; metrics, plots, MLflow."""
    from ferpipe.evaluate import evaluate as run_evaluate

    try:
        config = load_config(params, overrides)
    except ConfigError as error:
        _fail(str(error))
    run_evaluate(config.evaluate, config.tracking)


DATA = typer.Option("real", help="which registered model: the one trained on real or on synthetic data")
LABELS = typer.Option("fer2013", help="which registered model: FER2013-label models (fer2013) or FER+ ones (ferplus)")


def _registered_model(params: Path, data: str, labels: str):
    """The tracking config and the registered model's name, with MLflow pointed at the store."""
    from ferpipe import registry, tracking

    if labels not in registry.LABEL_FAMILIES:
        _fail(f"--labels {labels!r}: use one of {', '.join(registry.LABEL_FAMILIES)}")
    config = load_config(params).tracking
    tracking.configure(config.experiment)
    return config, registry.registered_name(config.registered_model, data, labels)


@app.command()
def promote(
    force: bool = typer.Option(False, "--force", help="promote even when the challenger is not better"),
    data: str = DATA,
    labels: str = LABELS,
    params: Path = PARAMS,
) -> None:
    """Move alias champion to the challenger if it beats the champion on the validation metric."""
    from ferpipe import registry

    config, name = _registered_model(params, data, labels)
    try:
        decision = registry.promote(name, config.promotion_metric, config.promotion_margin, force)
    except ValueError as error:
        _fail(str(error))
    typer.echo(f"{name}: {decision.reason}")
    typer.echo(f"champion is now v{decision.challenger}" if decision.promoted else
               f"champion stays v{decision.champion_before}")
    if not decision.promoted and decision.champion_before != decision.challenger:
        raise typer.Exit(2)


@app.command()
def rollback(data: str = DATA, labels: str = LABELS, params: Path = PARAMS) -> None:
    """Return alias champion to the version the current champion replaced."""
    from ferpipe import registry

    _, name = _registered_model(params, data, labels)
    try:
        version = registry.rollback(name)
    except ValueError as error:
        _fail(str(error))
    typer.echo(f"{name}: champion is back on v{version}")


@app.command()
def predict(
    model: str = typer.Argument(..., help="models:/name@alias, runs:/<id>/model, an MLflow model folder, or a .keras file"),
    inputs: list[Path] = typer.Argument(..., help="images of any size, folders of them, or FER-format CSVs"),
    output: Path = typer.Option(None, "--output", "-o", help="write CSV, or JSON if it ends in .json [default: stdout]"),
    batch_size: int = typer.Option(256, help="images per prediction batch"),
) -> None:
    """Predict the expression of every face in the inputs; bad files are reported, not fatal."""
    from ferpipe import predict as prediction

    try:
        loaded, names = prediction.load_model(model), prediction.label_names_of(model)
    except Exception as error:  # MLflow and Keras raise many kinds; all mean "cannot load this model"
        _fail(f"cannot load model {model}: {error}")
    results = prediction.predict(loaded, inputs, batch_size, names)
    text = prediction.write(results, output)
    if output is None:
        typer.echo(text, nl=False)
    for source, reason in results.failures:
        typer.echo(f"{source}: {reason}", err=True)
    typer.echo(results.summary(), err=True)
    if not results.faces:
        raise typer.Exit(1)


@app.command()
def ensemble(
    models: list[str] = typer.Argument(..., help="candidates: models:/name/version, models:/name@alias, runs:/<id>/model, "
                                                 "or .keras files"),
    keep_all: bool = typer.Option(False, "--keep-all", help="average every candidate instead of choosing on val"),
    params: Path = PARAMS,
    overrides: list[str] = SET,
) -> None:
    """Average the candidates' probabilities (members chosen on val), evaluate, log and register the ensemble."""
    from ferpipe.ensemble import EnsembleOutputs
    from ferpipe.ensemble import ensemble as run_ensemble

    try:
        config = load_config(params, overrides)
        result = run_ensemble(models, config.evaluate, config.tracking, select=not keep_all)
    except (ConfigError, ValueError, FileNotFoundError) as error:
        _fail(str(error))
    typer.echo(f"members: {' '.join(result['members'])}")
    typer.echo(f"val accuracy {result['val_accuracy']:.4f}; test accuracy {result['test']['accuracy']:.4f} "
               f"(95% CI {result['test']['accuracy_ci95'][0]:.4f}-{result['test']['accuracy_ci95'][1]:.4f}); "
               f"reports in {EnsembleOutputs().members.parent}")


@app.command()
def compare(
    run_ids: list[str] = typer.Argument(None, help="runs to compare [default: the latest evaluated runs]"),
    last: int = typer.Option(10, help="how many of the latest evaluated runs"),
    out: Path = typer.Option(Path("reports/compare"), help="folder for runs.md and confusion_matrices.png"),
    params: Path = PARAMS,
) -> None:
    """Runs side by side: params, val/test accuracy with intervals, confusion matrices (markdown + PNG)."""
    from ferpipe import tracking
    from ferpipe.compare import compare as run_compare

    config = load_config(params).tracking
    tracking.configure(config.experiment)
    try:
        typer.echo(run_compare(config.experiment, out, last, run_ids or None))
    except ValueError as error:
        _fail(str(error))
    typer.echo(f"wrote {out / 'runs.md'} and {out / 'confusion_matrices.png'}", err=True)
