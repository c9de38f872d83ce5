"""`ferpipe`: the command line people and MLproject call: the stages, and the tools on trained models."""

from __future__ import annotations

import importlib
from enum import StrEnum
from pathlib import Path

import typer

from ferpipe.core.config import ConfigError, load_config
from ferpipe.core.entry import execute, quiet_tensorflow, setup_logging
from ferpipe.core.inference import BATCH_SIZE as PREDICT_BATCH_SIZE
from ferpipe.core.lite import Quantization
from ferpipe.detect import MIN_FACE, DetectorName
from ferpipe.tools.inputs import FRAMES_PER_SECOND

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
PARAMS = typer.Option(Path("params.yaml"), "--params", help="params file (DVC's params.yaml)")
SET = typer.Option([], "--set", "-S", help="override a param for this run: group.key=value (repeatable)")


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _reason(error: Exception) -> str:
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


def _version(shown: bool) -> None:
    if shown:
        from ferpipe import __version__

        typer.echo(f"ferpipe {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="print the version and exit"
    ),
) -> None:
    quiet_tensorflow()
    setup_logging()


def _add_stage(name: str) -> None:
    """`ferpipe <stage>`: the DVC stage, run exactly as dvc.yaml runs `python -m ferpipe.<stage>`."""
    package = importlib.import_module(f"ferpipe.{name}")  # a docstring only: the stage's code loads when it runs

    def command(params: Path = PARAMS, overrides: list[str] = SET) -> None:
        raise typer.Exit(execute(name, lambda: importlib.import_module(f"ferpipe.{name}.stage").run, params, overrides))

    app.command(name=name, help=package.__doc__)(command)


for _stage in ("synthesize", "ingest", "convert", "train", "evaluate"):
    _add_stage(_stage)


class Data(StrEnum):
    real = "real"
    synthetic = "synthetic"


class Labels(StrEnum):
    fer2013 = "fer2013"
    ferplus = "ferplus"


DATA = typer.Option(Data.real, help="which registered model: the one trained on real or on synthetic data")
LABELS = typer.Option(Labels.fer2013, help="which registered model: FER2013-label models or FER+ ones")


def _tracking(params: Path):
    """The tracking params, with MLflow pointed at the store; a bad params file is one line."""
    from ferpipe.core import tracking

    try:
        config = load_config(params).tracking
    except ConfigError as error:
        _fail(str(error))
    try:
        tracking.configure(config.experiment)
    except Exception as error:  # MLflow's and SQLAlchemy's many kinds: a store that cannot be opened or written
        import mlflow

        _fail(f"cannot use the MLflow store {mlflow.get_tracking_uri()}: {_reason(error)}")
    return config


def _registered_model(params: Path, data: Data, labels: Labels):
    """The tracking config and the registered model's name, with MLflow pointed at the store."""
    from ferpipe.core import registry

    config = _tracking(params)
    return config, registry.registered_name(config.registered_model, data.value, labels.value)


@app.command()
def promote(
    force: bool = typer.Option(False, "--force", metavar="", help="promote even when the challenger is not better"),
    data: Data = DATA,
    labels: Labels = LABELS,
    params: Path = PARAMS,
) -> None:
    """Move alias champion to the challenger if it beats the champion on the validation metric."""
    from ferpipe.core import registry

    config, name = _registered_model(params, data, labels)
    try:
        decision = registry.promote(name, config.promotion_metric, config.promotion_margin, force)
    except ValueError as error:
        other = "synthetic" if data == Data.real else "real"
        if registry.has_challenger(registry.registered_name(config.registered_model, other, labels.value)):
            _fail(f"{error}; the pipeline ran on {other} data: use --data {other}")
        _fail(str(error))
    typer.echo(f"{name}: {decision.reason}")
    typer.echo(
        f"champion is now v{decision.challenger}"
        if decision.promoted
        else f"champion stays v{decision.champion_before}"
    )
    if not decision.promoted and decision.champion_before != decision.challenger:
        raise typer.Exit(2)


@app.command()
def rollback(data: Data = DATA, labels: Labels = LABELS, params: Path = PARAMS) -> None:
    """Return alias champion to the version the current champion replaced."""
    from ferpipe.core import registry

    _, name = _registered_model(params, data, labels)
    try:
        version = registry.rollback(name)
    except ValueError as error:
        _fail(str(error))
    typer.echo(f"{name}: champion is back on v{version}")


PARTIAL_FAILURE = 3  # `ferpipe predict`: some inputs predicted, some failed (1: none predicted)


@app.command()
def predict(
    model: str = typer.Argument(
        ...,
        metavar="[MODEL]",
        help="models:/name@alias, runs:/<id>/model, an MLflow model "
        "folder, a .keras file, or its .tflite export (the lightest: no TensorFlow); or the "
        "first input, when no model is named: the packaged model then answers",
    ),
    inputs: list[Path] = typer.Argument(None, help="images of any size, folders of them, FER-format CSVs, or videos"),
    output: Path = typer.Option(
        None, "--output", "-o", help="write CSV, or JSON if it ends in .json [default: stdout]"
    ),
    batch_size: int = typer.Option(PREDICT_BATCH_SIZE, min=1, help="faces per model call"),
    fps: float = typer.Option(FRAMES_PER_SECOND, min=0.01, help="video frames sampled per second"),
    annotate: Path = typer.Option(
        None,
        "--annotate",
        help="also write each picture (or sampled frame) with its "
        "faces' boxes, emotions and probabilities drawn, into this folder",
    ),
    plot: Path = typer.Option(None, "--plot", help="also draw each video's expressions over time into this PNG"),
    raw: bool = typer.Option(
        False,
        "--raw",
        metavar="",
        help="an MLflow model's own probabilities, without the temperature scaling evaluate fitted",
    ),
    labels: Labels = typer.Option(
        Labels.fer2013, help="with no MODEL: which packaged model (FER2013's 7 classes, or FER+'s 8)"
    ),
    detector: DetectorName = typer.Option(
        DetectorName.blazeface, help="the face detector: blazeface (LiteRT), mtcnn (needs TensorFlow), haar (OpenCV)"
    ),
    min_face: int = typer.Option(MIN_FACE, min=8, help="the smallest face the detector reports, in pixels"),
    min_score: float = typer.Option(
        None, min=0.0, max=1.0, help="the detector's confidence threshold [default: blazeface 0.5, mtcnn 0.9]"
    ),
) -> None:
    """Predict the expression of every face in the inputs; each bad input is reported with its reason.

    Exit status: 0 every input predicted; 3 some inputs failed (the rest are predicted); 1 nothing predicted.
    """
    import sys
    from functools import partial

    from ferpipe import detect
    from ferpipe.core.files import atomic_outputs
    from ferpipe.tools import predict as prediction
    from ferpipe.tools.models import answering, names_a_model

    try:
        prediction.check_output(output)
        prediction.check_output(plot, "--plot", (".png",))
        prediction.check_folder(annotate, "--annotate")
    except ValueError as error:
        _fail(str(error))
    from ferpipe import packaged

    named: str | None = model
    if not names_a_model(model):  # every argument is an input: the packaged model answers
        inputs, named = [Path(model), *(inputs or [])], None
    elif not inputs:
        _fail(f"name the inputs to predict after the model {model}")
    try:
        loaded, metadata = answering(named, labels.value, raw)
    except Exception as error:  # MLflow and Keras raise many kinds; all mean "cannot load this model"
        _fail(str(error) if named is None else f"cannot load model {named}: {_reason(error)}")
    if named is None:
        typer.echo(f"note: predicting with {packaged.packaged(labels.value).describe()}", err=True)
    names = loaded.names
    _model_notes(named, metadata)
    finding = partial(detect.detector, detector.value, min_face, min_score)
    if output is None:
        report = prediction.predict_to(
            loaded, inputs, sys.stdout, False, batch_size, names, fps, annotate, plot, finding
        )
    else:  # the file appears whole when done; when nothing could be predicted, what was there stays
        with atomic_outputs(output, keep_old=True) as staged, open(staged(output), "w", newline="") as stream:
            report = prediction.predict_to(
                loaded, inputs, stream, output.suffix == ".json", batch_size, names, fps, annotate, plot, finding
            )
            if not report.predicted:
                _explain(report)
    _explain(report)


def _model_notes(named: str | None, metadata: dict) -> None:
    """One line each on stderr: answers not calibrated, a model trained on synthetic data."""
    if named and named.endswith((".keras", ".tflite")):
        typer.echo(
            f"note: {named} is a bare network: its own probabilities, not calibrated (an MLflow model, "
            "models:/..., answers calibrated)",
            err=True,
        )
    elif metadata.get("uncalibrated"):
        typer.echo(
            f"note: {named} has no calibration.json (not evaluated yet): its answers are not calibrated", err=True
        )
    _synthetic_note(named, metadata)


def _synthetic_note(named: str | None, metadata: dict) -> None:
    if metadata.get("data") == "synthetic":
        typer.echo(f"note: {named} was trained on SYNTHETIC data: its answers say nothing about real faces", err=True)


def _explain(report, done: str = "predicted") -> None:
    """Notes, failures and the summary on stderr, then the exit status that says all, some or none."""
    for source, note in report.notes:
        typer.echo(f"{source}: note: {note}", err=True)
    for source, reason in report.failures:
        typer.echo(f"{source}: {reason}", err=True)
    typer.echo(report.summary(done), err=True)
    if not report.predicted:
        raise typer.Exit(1)
    if report.failures:
        raise typer.Exit(PARTIAL_FAILURE)


@app.command()
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

    _tracking(params)
    try:
        metadata = ship_version(model, quantization=quantize.value, force=force)
    except (ValueError, DataError) as error:
        _fail(str(error))
    except Exception as error:  # MLflow's many kinds: no such model, alias or version
        _fail(f"cannot ship {model}: {_reason(error)}")
    test = metadata["test"]
    typer.echo(
        f"shipped {metadata['registered']} as the packaged {metadata['labels']} model: PrivateTest accuracy "
        f"{test['accuracy']:.4f} as packaged ({test['rows']} faces)"
    )


@app.command("register-packaged")
def register_packaged(labels: Labels = LABELS, params: Path = PARAMS) -> None:
    """Register the packaged model in this MLflow store as its registered model's challenger, with the
    figures and provenance its metadata states: then promote, compare and serving treat it as a
    model trained here."""
    from ferpipe.tools.register_packaged import register_packaged as register

    config = _tracking(params)
    try:
        version, new = register(labels.value, config)
    except (FileNotFoundError, ValueError) as error:
        _fail(str(error))
    except Exception as error:  # MLflow's many kinds: a read-only or broken store
        _fail(f"cannot register the packaged {labels.value} model: {_reason(error)}")
    if not new:
        typer.echo(f"the packaged {labels.value} model is already registered as version {version}; nothing to do")
        return
    typer.echo(
        f"registered the packaged {labels.value} model as version {version} (challenger); "
        "ferpipe promote decides on champion"
    )


@app.command()
def explain(
    model: str = typer.Argument(
        ...,
        metavar="[MODEL]",
        help="models:/name@alias, runs:/<id>/model, an MLflow model folder, a .keras or .tflite file; "
        "or the first input, when no model is named: the packaged model is explained",
    ),
    inputs: list[Path] = typer.Argument(None, help="images of any size, folders of them, or FER-format CSVs"),
    output: Path = typer.Option(..., "--output", "-o", help="folder for the pictures, one PNG per face"),
    class_name: str = typer.Option(None, "--class", help="explain this class [default: the one predicted]"),
    labels: Labels = typer.Option(Labels.fer2013, help="with no MODEL: which packaged model"),
) -> None:
    """Where the network looked: for every face of the inputs, a picture of the face, its heatmap
    (Grad-CAM for a Keras network; occlusion for the packaged model or a .tflite file, no TensorFlow)
    and the class with its probability, written as <input>.face<N>.<class>.png.

    Exit status: 0 every input explained; 3 some inputs failed; 1 none could be."""
    from ferpipe.tools.explain import explain as explain_faces
    from ferpipe.tools.explain import load_explained
    from ferpipe.tools.models import names_a_model
    from ferpipe.tools.predict import check_folder

    try:
        check_folder(output, "--output")
    except ValueError as error:
        _fail(str(error))
    named: str | None = model
    if not names_a_model(model):  # every argument is an input: the packaged model is explained
        inputs, named = [Path(model), *(inputs or [])], None
    elif not inputs:
        _fail(f"name the inputs to explain after the model {model}")
    try:
        mapper, names, metadata = load_explained(named, labels.value)
    except Exception as error:  # MLflow and Keras raise many kinds; all mean "cannot load this model"
        _fail(str(error) if named is None else f"cannot load model {named}: {_reason(error)}")
    _synthetic_note(named, metadata)
    try:
        report = explain_faces(mapper, names, inputs, output, class_name)
    except ValueError as error:
        _fail(str(error))
    _explain(report, "explained")


@app.command()
def serve(
    model: str = typer.Argument(
        None, help="models:/name@alias, runs:/<id>/model, or an MLflow model folder [default: the packaged model]"
    ),
    host: str = typer.Option("127.0.0.1", help="address to listen on (0.0.0.0: every interface)"),
    port: int = typer.Option(5001, min=1, max=65535),
    labels: Labels = typer.Option(Labels.fer2013, help="with no MODEL: which packaged model"),
) -> None:
    """Serve a logged model as `mlflow models serve` does (MLflow's own app: the same routes, formats
    and answers), with every error reply kept under 4 KB whatever the request."""
    from ferpipe.tools.serve import app_for
    from ferpipe.tools.serve import serve as run_server

    try:
        application, metadata = app_for(model, labels.value)
    except Exception as error:  # MLflow raises many kinds; all mean "cannot load this model"
        _fail(f"cannot load model {model or f'(the packaged {labels.value} model)'}: {_reason(error)}")
    _synthetic_note(model, metadata)
    run_server(application, host, port)


@app.command()
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
        _fail("name MINUTES or --within RECIPE (one of them)")
    config = _composed(overrides)
    reference = _composed([within]) if within else None
    try:
        with quiet_start():
            import keras  # noqa: F401  (TensorFlow's C++ start-up lines are muted while it loads)
        if reference is not None:
            ok, text = fits(reference.train, config.train, within.partition("=")[2] or within)
        else:
            epochs, text = plan(minutes, config.train, overrides)
            ok = epochs > 0
    except DataError as error:
        _fail(f"{error} (convert the data first: dvc repro convert)")
    typer.echo(text)
    if not ok:
        raise typer.Exit(1)


def _composed(overrides: list[str]):
    """The params `dvc exp run -S <overrides>` would train with; a bad recipe or override is one line."""
    from ferpipe.tools.budget import composed

    try:
        return composed(overrides)
    except ConfigError as error:
        _fail(str(error))
    except Exception as error:  # Hydra's many kinds: an unknown recipe, a malformed override
        _fail(needs_pipeline(error) or f"cannot compose conf/ with {' '.join(overrides)}: {str(error).splitlines()[0]}")


@app.command()
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
        _fail(str(error))
    typer.echo(f"members: {' '.join(result['members'])}")
    typer.echo(
        f"val accuracy {result['val_accuracy']:.4f}; test accuracy {result['test']['accuracy']:.4f} "
        f"(95% CI {result['test']['accuracy_ci95'][0]:.4f}-{result['test']['accuracy_ci95'][1]:.4f}); "
        f"reports in {EnsembleOutputs().members.parent}"
    )


@app.command()
def summary() -> None:
    """The pipeline's result in a few lines: test accuracy with its interval, the seed's metric, what next."""
    from ferpipe.tools.summary import summary as pipeline_summary

    try:
        typer.echo(pipeline_summary())
    except FileNotFoundError as error:
        _fail(f"{error.filename}: not found; run the pipeline first (make pipeline, or dvc repro)")


@app.command()
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

    config = _tracking(params)
    try:
        typer.echo(run_compare(config.experiment, out, last, run_ids or None, by_val))
    except ValueError as error:
        _fail(str(error))
    except Exception as error:  # MLflow's many kinds: a store that cannot be opened or read
        _fail(f"cannot read the MLflow store: {_reason(error)}")
    typer.echo(f"wrote {out / 'runs.md'} and {out / 'confusion_matrices.png'}", err=True)
