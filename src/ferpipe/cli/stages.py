"""`ferpipe <stage>` for the five DVC stages, run as dvc.yaml runs them; `budget`, which sizes a
recipe to the minutes this machine has; `summary`, the pipeline's result in a few lines."""

from __future__ import annotations

import importlib
from pathlib import Path

import typer

from ferpipe.cli.common import PARAMS, SET, STAGES, app, fail, needs_pipeline
from ferpipe.core.config import ConfigError
from ferpipe.core.entry import execute

PIPELINE = ("synthesize", "ingest", "convert", "train", "evaluate")


def add_stage(name: str) -> None:
    """`ferpipe <stage>`: the DVC stage, run exactly as dvc.yaml runs `python -m ferpipe.<stage>`."""
    package = importlib.import_module(f"ferpipe.{name}")  # a docstring only: the stage's code loads when it runs

    def command(params: Path = PARAMS, overrides: list[str] = SET) -> None:
        raise typer.Exit(execute(name, lambda: importlib.import_module(f"ferpipe.{name}.stage").run, params, overrides))

    app.command(name=name, help=package.__doc__, rich_help_panel=STAGES)(command)


for stage in PIPELINE:
    add_stage(stage)


@app.command(rich_help_panel=STAGES)
def summary() -> None:
    """The pipeline's result in a few lines: test accuracy with its interval, the seed's metric, what next."""
    from ferpipe.tools.summary import summary as pipeline_summary

    try:
        typer.echo(pipeline_summary())
    except FileNotFoundError as error:
        fail(f"{error.filename}: not found; run the pipeline first (make pipeline, or dvc repro)")


@app.command(rich_help_panel=STAGES)
def budget(
    minutes: float = typer.Argument(None, min=0.1, help="wall-clock minutes of training"),
    overrides: list[str] = SET,
    within: str = typer.Option(
        None,
        "--within",
        metavar="RECIPE",
        help="instead of MINUTES: the time this recipe's epochs take here (train=cpu_session); "
        "says whether the -S recipe fits in it, exit status 1 if not",
    ),
) -> None:
    """How many epochs fit in MINUTES on this machine: measured on data/arrays with the params
    `dvc exp run -S ...` would use (conf/ composed, recipes by name), printed as the command to run.
    With --within: whether the -S recipe, its epochs included, trains in the time another takes."""
    from ferpipe.core.entry import quiet_start
    from ferpipe.core.schema import DataError
    from ferpipe.tools.budget import fits, plan

    if (minutes is None) == (within is None):
        fail("name MINUTES or --within RECIPE (one of them)")
    config = composed(overrides)
    reference = composed([within]) if within else None
    try:
        with quiet_start():
            import keras  # noqa: F401  (TensorFlow's C++ start-up lines are muted while it loads)
        if reference is not None:
            ok, text = fits(reference.train, config.train, within.partition("=")[2] or within)
        else:
            epochs, text = plan(minutes, config.train, overrides)
            ok = epochs > 0
    except DataError as error:
        fail(f"{error} (convert the data first: dvc repro convert)")
    typer.echo(text)
    if not ok:
        raise typer.Exit(1)


def composed(overrides: list[str]):
    """The params `dvc exp run -S <overrides>` would train with; a bad recipe or override is one line."""
    from ferpipe.tools.budget import composed as compose

    try:
        return compose(overrides)
    except ConfigError as error:
        fail(str(error))
    except Exception as error:  # Hydra's many kinds: an unknown recipe, a malformed override
        fail(needs_pipeline(error) or f"cannot compose conf/ with {' '.join(overrides)}: {str(error).splitlines()[0]}")
