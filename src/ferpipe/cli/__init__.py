"""`ferpipe`: the command line people and MLproject call, in rooms: `stages` (the five DVC stages,
`budget`, `summary`), `runs` (compare, ensemble, promote, rollback, ship, register-packaged) and
`models` (predict, explain, serve: the light install's commands), over `common`'s shared app and options."""

from __future__ import annotations

import importlib

import typer

from ferpipe.cli.common import app, needs_pipeline
from ferpipe.core.entry import quiet_tensorflow, setup_logging

__all__ = ["app", "run"]

for room in ("stages", "runs", "models"):  # each adds its commands to the app; `--help` lists them in this order
    importlib.import_module(f"ferpipe.cli.{room}")


def run() -> None:
    """The `ferpipe` command: the app, with a command that needs the pipeline install said in one line."""
    try:
        app()
    except ModuleNotFoundError as error:
        said = needs_pipeline(error)
        if said is None:
            raise
        typer.echo(f"error: {said}", err=True)
        raise SystemExit(1) from None


def show_version(shown: bool) -> None:
    if shown:
        from ferpipe import __version__

        typer.echo(f"ferpipe {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=show_version, is_eager=True, help="print the version and exit"
    ),
) -> None:
    quiet_tensorflow()
    setup_logging()
