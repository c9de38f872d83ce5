"""The commands that use a trained model: `predict` the faces in photos, folders, CSVs and videos,
`explain` where the network looked, `serve` a page and an API. With no model named, the packaged
one answers; these are the commands of the light install (no TensorFlow unless a Keras model is named)."""

from __future__ import annotations

from pathlib import Path

import typer

from ferpipe.cli.common import MODELS, PACKAGED_LABELS, Labels, app, fail, reason, synthetic_note
from ferpipe.core.inference import BATCH_SIZE as PREDICT_BATCH_SIZE
from ferpipe.detect import MIN_FACE, DetectorName
from ferpipe.tools.inputs import FRAMES_PER_SECOND

PARTIAL_FAILURE = 3  # `ferpipe predict` and `explain`: some inputs done, some failed (1: none done)
MODEL_OR_INPUT = (
    "models:/name@alias, runs:/<id>/model, an MLflow model folder, a .keras file, or its .tflite export "
    "(the lightest: no TensorFlow); or the first input, when no model is named: the packaged model then answers"
)


def model_and_inputs(model: str | None, inputs: list[Path] | None, verb: str) -> tuple[str | None, list[Path]]:
    """The model named (None: the packaged one) and the inputs, from the command's arguments."""
    from ferpipe.tools.models import names_a_model

    if model is None:
        fail(
            f"name what to {verb}: photos, folders, FER-format CSVs (ferpipe {verb} photo.jpg), after a MODEL if not the packaged one"
        )
    if not names_a_model(model):  # every argument is an input: the packaged model answers
        return None, [Path(model), *(inputs or [])]
    if not inputs:
        fail(f"name the inputs to {verb} after the model {model}")
    return model, list(inputs)


@app.command(rich_help_panel=MODELS)
def predict(
    model: str = typer.Argument(None, metavar="MODEL", help=MODEL_OR_INPUT, show_default=False),
    inputs: list[Path] = typer.Argument(
        None, metavar="INPUTS", help="images of any size, folders of them, FER-format CSVs, or videos"
    ),
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

    from ferpipe import detect, packaged
    from ferpipe.core.files import atomic_outputs
    from ferpipe.tools import predict as prediction
    from ferpipe.tools.models import answering

    try:
        prediction.check_output(output)
        prediction.check_output(plot, "--plot", (".png",))
        prediction.check_folder(annotate, "--annotate")
    except ValueError as error:
        fail(str(error))
    named, inputs = model_and_inputs(model, inputs, "predict")
    try:
        loaded, metadata = answering(named, labels.value, raw)
    except Exception as error:  # MLflow and Keras raise many kinds; all mean "cannot load this model"
        fail(str(error) if named is None else f"cannot load model {named}: {reason(error)}")
    if named is None:
        typer.echo(f"note: predicting with {packaged.packaged(labels.value).describe()}", err=True)
    names = loaded.names
    model_notes(named, metadata)
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
                finish(report)
    finish(report)


def model_notes(named: str | None, metadata: dict) -> None:
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
    synthetic_note(named, metadata)


def finish(report, done: str = "predicted") -> None:
    """Notes, failures and the summary on stderr, then the exit status that says all, some or none."""
    for source, note in report.notes:
        typer.echo(f"{source}: note: {note}", err=True)
    for source, why in report.failures:
        typer.echo(f"{source}: {why}", err=True)
    typer.echo(report.summary(done), err=True)
    if not report.predicted:
        raise typer.Exit(1)
    if report.failures:
        raise typer.Exit(PARTIAL_FAILURE)


@app.command(rich_help_panel=MODELS)
def explain(
    model: str = typer.Argument(
        None,
        metavar="MODEL",
        show_default=False,
        help="models:/name@alias, runs:/<id>/model, an MLflow model folder, a .keras or .tflite file; "
        "or the first input, when no model is named: the packaged model is explained",
    ),
    inputs: list[Path] = typer.Argument(
        None, metavar="INPUTS", help="images of any size, folders of them, or FER-format CSVs"
    ),
    output: Path = typer.Option(..., "--output", "-o", help="folder for the pictures, one PNG per face"),
    class_name: str = typer.Option(None, "--class", help="explain this class [default: the one predicted]"),
    labels: Labels = PACKAGED_LABELS,
) -> None:
    """Where the network looked: for every face of the inputs, a picture of the face, its heatmap
    (Grad-CAM for a Keras network; occlusion for the packaged model or a .tflite file, no TensorFlow)
    and the class with its probability, written as <input>.face<N>.<class>.png.

    Exit status: 0 every input explained; 3 some inputs failed; 1 none could be."""
    from ferpipe.tools.explain import explain as explain_faces
    from ferpipe.tools.explain import load_explained
    from ferpipe.tools.predict import check_folder

    try:
        check_folder(output, "--output")
    except ValueError as error:
        fail(str(error))
    named, inputs = model_and_inputs(model, inputs, "explain")
    try:
        mapper, names, metadata = load_explained(named, labels.value)
    except Exception as error:  # MLflow and Keras raise many kinds; all mean "cannot load this model"
        fail(str(error) if named is None else f"cannot load model {named}: {reason(error)}")
    synthetic_note(named, metadata)
    try:
        report = explain_faces(mapper, names, inputs, output, class_name)
    except ValueError as error:
        fail(str(error))
    finish(report, "explained")


@app.command(rich_help_panel=MODELS)
def serve(
    model: str = typer.Argument(
        None, help="models:/name@alias, runs:/<id>/model, or an MLflow model folder [default: the packaged model]"
    ),
    host: str = typer.Option("127.0.0.1", help="address to listen on (0.0.0.0: every interface)"),
    port: int = typer.Option(5001, min=1, max=65535),
    labels: Labels = PACKAGED_LABELS,
) -> None:
    """Serve a model: with none named, the packaged one behind a page to try it (GET /) and a photo API
    (POST /analyze); a logged model as `mlflow models serve` does (the same routes, formats and answers).
    Every error reply is kept under 4 KB whatever the request."""
    from ferpipe.tools.serve import app_for
    from ferpipe.tools.serve import serve as run_server

    try:
        application, metadata = app_for(model, labels.value)
    except Exception as error:  # MLflow raises many kinds; all mean "cannot load this model"
        fail(f"cannot load model {model or f'(the packaged {labels.value} model)'}: {reason(error)}")
    synthetic_note(model, metadata)
    run_server(application, host, port)
