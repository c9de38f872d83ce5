"""The commands on runs and the MLflow registry: `compare` runs side by side, `ensemble` them,
`promote` a challenger to champion or `rollback`, `ship` a registered version as the packaged
model, and `register-packaged` to bring the packaged model into this store."""

from __future__ import annotations

from pathlib import Path

import typer

from ferpipe.cli.common import DATA, LABELS, PARAMS, RUNS, SET, Data, Labels, app, fail, reason, tracking_config
from ferpipe.core.config import ConfigError, load_config
from ferpipe.core.lite import Quantization


def registered_model(params: Path, data: Data, labels: Labels):
    """The tracking config and the registered model's name, with MLflow pointed at the store."""
    from ferpipe.core import registry

    config = tracking_config(params)
    return config, registry.registered_name(config.registered_model, data.value, labels.value)


@app.command(rich_help_panel=RUNS)
def compare(
    run_ids: list[str] = typer.Argument(None, help="runs to compare [default: the latest trained or evaluated runs]"),
    last: int = typer.Option(10, min=1, help="how many of the latest trained or evaluated runs"),
    by_val: bool = typer.Option(False, "--by-val", help="best val (PublicTest) accuracy first: a search's ranking"),
    out: Path = typer.Option(Path("reports/compare"), help="folder for runs.md and confusion_matrices.png"),
    params: Path = PARAMS,
) -> None:
    """Runs side by side: params, val/test accuracy with intervals, confusion matrices (markdown + PNG).
    Runs only trained (`dvc exp run train`, as a search's candidates are) show val accuracy alone."""
    from ferpipe.tools.compare import compare as run_compare

    config = tracking_config(params)
    try:
        typer.echo(run_compare(config.experiment, out, last, run_ids or None, by_val))
    except ValueError as error:
        fail(str(error))
    except Exception as error:  # MLflow's many kinds: a store that cannot be opened or read
        fail(f"cannot read the MLflow store: {reason(error)}")
    typer.echo(f"wrote {out / 'runs.md'} and {out / 'confusion_matrices.png'}", err=True)


@app.command(rich_help_panel=RUNS)
def ensemble(
    models: list[str] = typer.Argument(
        ..., help="candidates: models:/name/version, models:/name@alias, runs:/<id>/model, or .keras files"
    ),
    keep_all: bool = typer.Option(
        False, "--keep-all", metavar="", help="average every candidate instead of choosing on val"
    ),
    params: Path = PARAMS,
    overrides: list[str] = SET,
) -> None:
    """Average the candidates' probabilities (members chosen on val), evaluate, log and register the ensemble."""
    from ferpipe.core.entry import quiet_start

    with quiet_start():  # TensorFlow's C++ start-up lines, printed as the evaluate stage's Keras loads
        from ferpipe.tools.ensemble import EnsembleOutputs
        from ferpipe.tools.ensemble import ensemble as run_ensemble

    try:
        config = load_config(params, overrides)
        result = run_ensemble(models, config.evaluate, config.tracking, select=not keep_all)
    except (ConfigError, ValueError, FileNotFoundError) as error:
        fail(str(error))
    typer.echo(f"members: {' '.join(result['members'])}")
    typer.echo(
        f"val accuracy {result['val_accuracy']:.4f}; test accuracy {result['test']['accuracy']:.4f} "
        f"(95% CI {result['test']['accuracy_ci95'][0]:.4f}-{result['test']['accuracy_ci95'][1]:.4f}); "
        f"reports in {EnsembleOutputs().members.parent}"
    )


@app.command(rich_help_panel=RUNS)
def promote(
    force: bool = typer.Option(False, "--force", metavar="", help="promote even when the challenger is not better"),
    data: Data = DATA,
    labels: Labels = LABELS,
    params: Path = PARAMS,
) -> None:
    """Move alias champion to the challenger if it beats the champion on the validation metric."""
    from ferpipe.core import registry

    config, name = registered_model(params, data, labels)
    try:
        decision = registry.promote(name, config.promotion_metric, config.promotion_margin, force)
    except ValueError as error:
        other = "synthetic" if data == Data.real else "real"
        if registry.has_challenger(registry.registered_name(config.registered_model, other, labels.value)):
            fail(f"{error}; the pipeline ran on {other} data: use --data {other}")
        fail(str(error))
    typer.echo(f"{name}: {decision.reason}")
    typer.echo(
        f"champion is now v{decision.challenger}"
        if decision.promoted
        else f"champion stays v{decision.champion_before}"
    )
    if not decision.promoted and decision.champion_before != decision.challenger:
        raise typer.Exit(2)


@app.command(rich_help_panel=RUNS)
def rollback(data: Data = DATA, labels: Labels = LABELS, params: Path = PARAMS) -> None:
    """Return alias champion to the version the current champion replaced."""
    from ferpipe.core import registry

    _, name = registered_model(params, data, labels)
    try:
        version = registry.rollback(name)
    except ValueError as error:
        fail(str(error))
    typer.echo(f"{name}: champion is back on v{version}")


@app.command(rich_help_panel=RUNS)
def ship(
    model: str = typer.Argument(..., help="the registered version: models:/name@alias or models:/name/version"),
    quantize: Quantization = typer.Option(
        Quantization.dynamic_int8,
        help="LiteRT's quantization of the weights; "
        "refused if PrivateTest accuracy falls more than 0.3 points below float32's",
    ),
    force: bool = typer.Option(
        False, "--force", metavar="", help="ship it even if it scores below the packaged model on PrivateTest"
    ),
    params: Path = PARAMS,
) -> None:
    """Make a registered version the model this package carries (src/ferpipe/packaged/<labels>/): its LiteRT
    export, calibration, model card and metadata, scored again on the whole PrivateTest from data/arrays, which
    must be the data it was trained on. Refused: models trained on synthetic data, and (unless --force) one
    that scores below the packaged model on the same faces. The packaged model stays until the new one is whole."""
    from ferpipe.core.schema import DataError
    from ferpipe.tools.ship import ship as ship_version

    tracking_config(params)
    try:
        metadata = ship_version(model, quantization=quantize.value, force=force)
    except (ValueError, DataError) as error:
        fail(str(error))
    except Exception as error:  # MLflow's many kinds: no such model, alias or version
        fail(f"cannot ship {model}: {reason(error)}")
    test = metadata["test"]
    typer.echo(
        f"shipped {metadata['registered']} as the packaged {metadata['labels']} model: PrivateTest accuracy "
        f"{test['accuracy']:.4f} as packaged ({test['rows']} faces)"
    )


@app.command("register-packaged", rich_help_panel=RUNS)
def register_packaged(labels: Labels = LABELS, params: Path = PARAMS) -> None:
    """Register the packaged model in this MLflow store as its registered model's challenger, with the
    figures and provenance its metadata states: then promote, compare and serving treat it as a
    model trained here."""
    from ferpipe.tools.register_packaged import register_packaged as register

    config = tracking_config(params)
    try:
        version, new = register(labels.value, config)
    except (FileNotFoundError, ValueError) as error:
        fail(str(error))
    except Exception as error:  # MLflow's many kinds: a read-only or broken store
        fail(f"cannot register the packaged {labels.value} model: {reason(error)}")
    if not new:
        typer.echo(f"the packaged {labels.value} model is already registered as version {version}; nothing to do")
        return
    typer.echo(
        f"registered the packaged {labels.value} model as version {version} (challenger); "
        "ferpipe promote decides on champion"
    )
