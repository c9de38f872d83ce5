"""What every room of the command line shares: the app the commands join, the options several
take, one-line failures, and the note for a command that needs the pipeline install."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import NoReturn

import typer

from ferpipe.core.config import ConfigError, load_config

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="`ferpipe`: the command line people and MLproject call: the stages, and the tools on trained models.",
)

# Help panels, in the order `ferpipe --help` shows them.
STAGES, RUNS, MODELS = "The pipeline's stages", "Runs, the registry and the packaged models", "Using a model"

PARAMS = typer.Option(Path("params.yaml"), "--params", help="params file (DVC's params.yaml)")
SET = typer.Option([], "--set", "-S", help="override a param for this run: group.key=value (repeatable)")


class Data(StrEnum):
    real = "real"
    synthetic = "synthetic"


class Labels(StrEnum):
    fer2013 = "fer2013"
    ferplus = "ferplus"


DATA = typer.Option(Data.real, help="which registered model: the one trained on real or on synthetic data")
LABELS = typer.Option(Labels.fer2013, help="which registered model: FER2013-label models or FER+ ones")
PACKAGED_LABELS = typer.Option(Labels.fer2013, help="with no MODEL: which packaged model")


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def reason(error: Exception) -> str:
    """A library's error message on one line, cut short: MLflow's and Keras' can span screens."""
    return needs_pipeline(error) or " ".join(str(error).split())[:300]


# What `pip install ferpipe[pipeline]` adds to the light install: the stages, the registry and
# models other than the packaged ones need them.
PIPELINE_PACKAGES = ("tensorflow", "keras", "mlflow", "dvc", "pandas", "pyarrow", "sklearn", "hydra", "omegaconf")
PIPELINE_INSTALL = "pip install 'ferpipe[pipeline]'"


def needs_pipeline(error: BaseException) -> str | None:
    """What to tell a person whose command reached for a package of the pipeline install, or None."""
    missing = (getattr(error, "name", None) or "").partition(".")[0]
    if isinstance(error, ModuleNotFoundError) and missing in PIPELINE_PACKAGES:
        return f"this needs the pipeline install ({missing} is not installed): {PIPELINE_INSTALL}"
    return None


def tracking_config(params: Path):
    """The tracking params, with MLflow pointed at the store; a bad params file is one line."""
    from ferpipe.core import tracking

    try:
        config = load_config(params).tracking
    except ConfigError as error:
        fail(str(error))
    try:
        tracking.configure(config.experiment)
    except Exception as error:  # MLflow's and SQLAlchemy's many kinds: a store that cannot be opened or written
        import mlflow

        fail(f"cannot use the MLflow store {mlflow.get_tracking_uri()}: {reason(error)}")
    return config


def synthetic_note(named: str | None, metadata: dict) -> None:
    if metadata.get("data") == "synthetic":
        typer.echo(f"note: {named} was trained on SYNTHETIC data: its answers say nothing about real faces", err=True)
