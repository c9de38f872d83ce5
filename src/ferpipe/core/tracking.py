"""MLflow: where runs go, how a pipeline run's stages share one MLflow run, and its tags.

Default store: `sqlite:///<repository root>/mlflow.db` with artifacts in
`<repository root>/mlartifacts`, so `mlflow ui` started at the root shows every run. The root
is DVC_ROOT when DVC runs the stage, else the current folder; experiments that DVC runs in a
copy of the repository (`dvc exp run --temp`, queued runs) write to the original's store. A
repository copied or moved as a whole (`cp -a`) has its own: its artifacts go to its own
folder, never back to the one it was copied from. MLFLOW_TRACKING_URI overrides the store,
for a shared tracking server.

Longer than most modules: the store, the run's tags and provenance, and the files a logged model
is made of are what every stage and tool records in MLflow, described once here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import numpy as np

if TYPE_CHECKING:
    import keras

    from ferpipe.core.inference import Calibration

from ferpipe.core.paths import MLFLOW_ARTIFACTS, MLFLOW_DB, STAGE_OUTPUTS

EXPERIMENT_KIND, MODEL_TRAINING = "mlflow.experimentKind", "custom_model_development"
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # a bar per small file in a stage's log


def repository_root() -> Path:
    root = Path(os.environ.get("DVC_ROOT") or Path.cwd()).resolve()
    # `dvc exp run --temp` runs in <repository>/.dvc/tmp/exps/... and names that copy DVC_ROOT
    # (queued runs get the parent): anchor the store at the real repository either way.
    parts = root.parts
    for i in range(len(parts) - 2):
        if parts[i : i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    return root


def configure(experiment: str) -> str:
    """Point MLflow at the project's store and experiment; return the experiment id."""
    database = repository_root() / MLFLOW_DB
    own_store = f"sqlite:///{database}"
    if "MLFLOW_TRACKING_URI" not in os.environ:
        mlflow.set_tracking_uri(own_store)
    artifacts = (repository_root() / MLFLOW_ARTIFACTS).as_uri()
    local = mlflow.get_tracking_uri() == own_store
    found = mlflow.get_experiment_by_name(experiment)
    if found is None:
        try:
            # The kind makes `mlflow ui` open the experiment on its runs, not on the GenAI overview.
            return mlflow.create_experiment(
                experiment, artifact_location=artifacts if local else None, tags={EXPERIMENT_KIND: MODEL_TRAINING}
            )
        except mlflow.exceptions.MlflowException:
            found = mlflow.get_experiment_by_name(experiment)  # another command created it meanwhile
            if found is None:
                raise
    if local and found.artifact_location != artifacts:
        move_artifact_root(database, found.experiment_id, artifacts)
    if found.tags.get(EXPERIMENT_KIND) != MODEL_TRAINING:
        mlflow.MlflowClient().set_experiment_tag(found.experiment_id, EXPERIMENT_KIND, MODEL_TRAINING)
    return found.experiment_id


def move_artifact_root(database: Path, experiment_id: str, location: str) -> None:
    """Send the experiment's new artifacts to `location`. MLflow stores the artifact root as an
    absolute path and has no call to change it: a copied store would otherwise go on writing
    into the original repository's folder."""
    with contextlib.closing(sqlite3.connect(database)) as connection, connection:
        connection.execute(
            "UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?", (location, int(experiment_id))
        )


@contextlib.contextmanager
def open_run(experiment: str, run_id: str | None = None, name: str | None = None) -> Iterator[mlflow.ActiveRun]:
    """The MLflow run to log into: `run_id` to add to (a resumed run, the one `mlflow run` opened,
    the one train left for evaluate), else a new run, named after the DVC experiment when DVC
    runs one, or `name`."""
    experiment_id = configure(experiment)
    with mlflow.start_run(
        run_id=run_id, experiment_id=experiment_id, run_name=None if run_id else (run_name() or name)
    ) as run:
        yield run


def mark_failed_if_running(run_id: str) -> None:
    """A run whose process died without ending it stays RUNNING; record it as FAILED."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    try:
        if client.get_run(run_id).info.status == "RUNNING":
            client.set_terminated(run_id, status="FAILED")
    except MlflowException:
        pass  # the run is gone from this store: nothing to mark


def run_name() -> str | None:
    """The DVC experiment's name, when DVC runs this as part of `dvc exp run`."""
    return os.environ.get("DVC_EXP_NAME")


def git(*arguments: str) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(["git", *arguments], capture_output=True, text=True, cwd=repository_root())
    except OSError:
        return None


def git_commit() -> str | None:
    """The commit whose code runs: a DVC experiment's baseline (a queued or temporary experiment runs
    in a copy whose HEAD is a commit of DVC's own, on no branch), else HEAD."""
    if os.environ.get("DVC_EXP_BASELINE_REV"):
        return os.environ["DVC_EXP_BASELINE_REV"]
    done = git("rev-parse", "HEAD")
    return done.stdout.strip() if done and done.returncode == 0 else None


# What `dvc exp run` itself writes into the workspace before a stage runs: not changes to the code.
WRITTEN_BY_DVC = ("params.yaml", "dvc.lock")


def products() -> list[str]:
    """What the pipeline writes, never its code: DVC's own files and every stage output. A run's
    earlier outputs, committed or staged (as `git add` or DVC's autostage leaves them), change nothing
    that trains."""
    outputs = [str(path) for kind in STAGE_OUTPUTS.values() for path in vars(kind()).values()]
    return [*WRITTEN_BY_DVC, *outputs]


def uncommitted_changes(commit: str | None) -> str:
    """ "false" when the tracked files are the commit's (the pipeline's products aside), "true" when
    they differ, "unknown" without git or a commit: what a packaged model's provenance rests on."""
    if not commit:
        return "unknown"
    done = git("diff", "--quiet", commit, "--", ".", *(f":(exclude){name}" for name in products()))
    return "unknown" if done is None or done.returncode > 1 else str(done.returncode == 1).lower()


def run_tags(manifest: dict[str, Any]) -> dict[str, str]:
    commit = git_commit()
    tags = {
        "data": manifest.get("data", "unknown"),  # "real" or "synthetic"
        "labels": manifest.get("labels", "fer2013"),  # ingest.labels: fer2013, ferplus_majority, ferplus_probability
        "dataset_sha256": manifest.get("source_sha256") or "",
        "mlflow.source.git.commit": commit or "",
        "uncommitted_changes": uncommitted_changes(commit),
    }
    if run_name():
        tags["dvc_exp_name"] = run_name()
    return tags


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} → {"a.b": 1}: MLflow params and metrics are flat."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


@contextlib.contextmanager
def quieter(logger: str) -> Iterator[None]:
    level = logging.getLogger(logger).level
    logging.getLogger(logger).setLevel(logging.ERROR)
    try:
        yield
    finally:
        logging.getLogger(logger).setLevel(level)


def log_dataset(manifest: dict[str, Any]) -> None:
    """The run's data set as an MLflow input: where it was read from, and its sha256 as digest
    (the first 36 characters, all MLflow's store keeps; the full hash is the tag dataset_sha256)."""
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset

    if not manifest.get("source") or not manifest.get("source_sha256"):
        return  # arrays converted before the manifest named its source
    name = f"{'synthetic faces' if manifest['data'] == 'synthetic' else 'FER2013'} ({manifest['labels']} labels)"
    with warnings.catch_warnings():  # MLflow registers its local-file source twice and says so
        warnings.filterwarnings("ignore", "The specified dataset source can be interpreted in multiple ways")
        source = resolve_dataset_source(manifest["source"])
    dataset = MetaDataset(source, name=name, digest=manifest["source_sha256"][:36])  # type: ignore[abstract]  # MLflow's stub, not its class, is abstract
    mlflow.log_input(dataset, context="training")


def serving_requirements() -> list[str]:
    """The packages a logged model needs to load and answer, at the versions that trained it."""
    from importlib.metadata import version

    return [
        f"{package}=={version(package)}"
        for package in ("mlflow", "ai-edge-litert", "tensorflow", "keras", "numpy", "pandas", "pillow")
    ]


def save_network(model: keras.Model, network: Path, lite_network: Path) -> tuple[Path, Path]:
    """The files a logged model is made of: the Keras network and its LiteRT export, which serves it."""
    from ferpipe.core.lite import export

    model.save(network)
    return network, export(model, lite_network)


def log_model(model: keras.Model, example: np.ndarray, label_names: list[str], data: str) -> str:
    """Save the network (`save_network`) and log it with `log_model_files`; return its URI."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        files = save_network(model, Path(folder) / "model.keras", Path(folder) / "model.tflite")
        return log_model_files(files, example, label_names, data)


def log_calibration(model_uri: str, calibration: Calibration) -> None:
    """Put the calibration evaluate fitted (`inference.Calibration`) beside a logged model's
    artifacts, where its pyfunc reads it when loaded, and among its tags; a later evaluation of
    the same model replaces it."""
    import tempfile

    import mlflow

    model_id = model_uri.removeprefix("models:/")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / calibration.FILE
        calibration.write(path)
        mlflow.MlflowClient().log_model_artifact(model_id, str(path))
    mlflow.set_logged_model_tags(model_id, {"temperature": f"{calibration.temperature:.6g}", "tta": calibration.tta})


def log_model_files(
    files: tuple[Path | None, Path], example: np.ndarray, label_names: list[str], data: str, save_to: Path | None = None
) -> str:
    """Log a network saved by `save_network` as an MLflow model (ferpipe.core.serving) with a
    signature, an input example, its class names and the kind of data it was trained on; return
    its URI, to register it by. With `save_to`, save it to that folder instead (no store) and
    return the folder. A packaged model has no Keras file: `files` is then (None, its LiteRT file)."""
    import shutil
    import tempfile

    from ferpipe.core.serving import LITE_NETWORK, NETWORK, ExpressionModel, signature

    network, lite_network = files
    example = np.asarray(example, dtype=np.float32)
    with tempfile.TemporaryDirectory() as folder:
        # The wrapper's own code travels with the model (not the package's own trained models), and its
        # requirements are named rather than inferred (MLflow would load the model in a second Python
        # to find them).
        code = shutil.copytree(
            Path(__file__).resolve().parents[1],
            Path(folder) / "ferpipe",
            ignore=shutil.ignore_patterns("__pycache__", "*.tflite"),
        )
        model = dict(
            python_model=ExpressionModel(),
            artifacts={**({NETWORK: str(network)} if network else {}), LITE_NETWORK: str(lite_network)},
            model_config={"label_names": list(label_names)},
            metadata={"label_names": list(label_names), "data": data},
            signature=signature(list(label_names)),
            input_example=example[:2],
            code_paths=[str(code)],
            pip_requirements=serving_requirements(),
        )
        with quieter("mlflow.pyfunc"):  # its note that the wrapper is pickled
            if save_to is not None:
                mlflow.pyfunc.save_model(str(save_to), **model)
                return str(save_to)
            return mlflow.pyfunc.log_model(name="model", **model).model_uri
