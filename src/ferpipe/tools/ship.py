"""`ferpipe ship`: a registered model version becomes the model the package carries.

From the version's own records, never by hand: its LiteRT export and calibration (as the logged
model holds them), its model card (the version's description), and its metadata: class names, the
data's sha256, the git commit and params of the run that trained it. Its weights are quantized
(LiteRT's dynamic-range int8 unless asked otherwise) only if PrivateTest accuracy stays within
0.3 points of the float32 file's. The packaged file is scored
again on PrivateTest from the converted arrays, which must be the data the version was trained on
(same sha256), and its metadata states that accuracy: the file's own, the one a test checks. A
version trained on synthetic data is refused.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

import ferpipe.packaged as packaged_models
from ferpipe.core.arrays import ARRAYS, load_split, read_manifest
from ferpipe.core.files import atomic_outputs, sha256_of, writable
from ferpipe.core.inference import Calibration, served_probabilities
from ferpipe.core.registry import label_family
from ferpipe.core.schema import FER2013_ROWS
from ferpipe.packaged import CARD, METADATA, MODEL
from ferpipe.tools.packaged_card import card_figures, packaged_card


def registered_version(reference: str):
    """The model version a `models:/name@alias` or `models:/name/N` reference names."""
    from mlflow import MlflowClient

    named = reference.removeprefix("models:/")
    if reference.startswith("models:/") and "@" in named:
        return MlflowClient().get_model_version_by_alias(*named.split("@", 1))
    if reference.startswith("models:/") and "/" in named:
        return MlflowClient().get_model_version(*named.split("/", 1))
    raise ValueError(f"{reference}: name a registered version, models:/<name>@<alias> or models:/<name>/<version>")


# The packaging rule: a quantized file is shipped only as accurate as float32's on PrivateTest, to
# within this many points (each option measured in BENCHMARKS.md).
QUANTIZED_POINTS_LOST = 0.3


def ship(
    reference: str,
    arrays: Path = ARRAYS,
    root: Path | None = None,
    quantization: str = "dynamic_int8",
    force: bool = False,
) -> dict[str, Any]:
    """The version packaged into `root` (by default the package's own folder, `ferpipe.packaged.HERE`);
    its metadata."""
    import mlflow

    from ferpipe.evaluate.metrics import bootstrap_interval

    version = registered_version(reference)
    tags = version.tags
    labels = tags.get("labels", "fer2013")
    target = (packaged_models.HERE if root is None else root) / label_family(labels)
    if not writable(target.parent):
        raise ValueError(f"{target.parent}: cannot be written, so no model can be shipped there; nothing was changed")
    check_data(reference, tags, read_manifest(arrays), arrays)
    folder = Path(mlflow.artifacts.download_artifacts(f"models:/{version.name}/{version.version}"))
    logged = mlflow.models.Model.load(folder)
    artifacts = logged.flavors["python_function"]["artifacts"]
    calibration = Calibration.read(folder / Calibration.FILE)
    if calibration is None:
        raise ValueError(
            f"{reference}: has no {Calibration.FILE}: evaluate it first (its calibration is shipped with it)"
        )
    x_test, y_test = load_split(arrays, "test")
    lite_file, correct, float32_correct = packaged_file(
        reference, folder, artifacts, quantization, np.asarray(x_test), y_test, calibration
    )
    if not force:
        check_not_worse(reference, target, correct, np.asarray(x_test), y_test)
    run = mlflow.get_run(version.run_id)
    check_provenance(reference, run.data.tags)
    metadata = {
        "labels": labels,
        "label_names": (logged.metadata or {})["label_names"],
        "model": run.data.params.get("arch", "unknown"),
        "registered": f"{version.name}/{version.version}",
        "model_sha256": sha256_of(lite_file),
        "calibration": {"temperature": calibration.temperature, "tta": calibration.tta},
        "data": "real",
        "dataset_sha256": tags["dataset_sha256"],
        # The commit that trained it, and the one whose evaluate scored and calibrated it (a later one
        # when the version was evaluated again).
        "git_commit": run.data.tags.get("mlflow.source.git.commit"),
        "evaluated_with_commit": tags.get("mlflow.source.git.commit"),
        "dvc_experiment": tags.get("dvc_exp_name"),
        "params": dict(sorted(run.data.params.items())),
        "test": {
            "split": "PrivateTest",
            "rows": int(len(y_test)),
            "accuracy": float(correct.mean()),
            "accuracy_ci95": bootstrap_interval(correct, 1000, 0),
            "measured_on": "this file, calibrated",
        },
        "val_accuracy": float(tags["val_accuracy"]),
        "quantization": quantization,
        "float32_test_accuracy": float(float32_correct.mean()),
    }
    # The packaged model in place stays until the new one is whole: a failure or a kill leaves it.
    with atomic_outputs(target, keep_old=True) as staged:
        out = staged(target)
        out.mkdir()
        shutil.copyfile(lite_file, out / MODEL)
        (out / METADATA).write_text(json.dumps(metadata, indent=2) + "\n")
        figures = card_figures(lite_file, np.asarray(x_test), y_test, calibration, metadata["label_names"])
        (out / CARD).write_text(packaged_card(version.description or "", metadata, figures))
    return metadata


def check_data(reference: str, tags: dict[str, str], manifest: dict[str, Any], arrays: Path) -> None:
    """The arrays to score on: the real data the version was trained on, converted with its labels,
    holding the whole PrivateTest (a model is never shipped on a figure from part of it)."""
    if tags.get("data") != "real":
        raise ValueError(
            f"{reference}: trained on {tags.get('data', 'unknown')} data, not the real FER2013: "
            "only real-data models are shipped"
        )
    if manifest.get("source_sha256") != tags.get("dataset_sha256"):
        raise ValueError(
            f"{arrays}: converted from data of sha256 {manifest.get('source_sha256')}, but "
            f"{reference} was trained on {tags.get('dataset_sha256')}: convert that data first"
        )
    labels = tags.get("labels", "fer2013")
    if manifest.get("labels") != labels:
        raise ValueError(
            f"{arrays}: converted with {manifest.get('labels')} labels, but {reference} was trained on {labels} "
            f"labels: its accuracy would be scored against the wrong ones (convert with ingest.labels={labels})"
        )
    test = manifest.get("splits", {}).get("test", {})
    faces = int(test.get("count", 0)) + int(test.get("dropped_by_labels", 0))
    whole = FER2013_ROWS["PrivateTest"]
    if test.get("from_usage") != "PrivateTest" or faces != whole:
        raise ValueError(
            f"{arrays}: its test split holds {faces} PrivateTest faces, not the whole {whole}: "
            "a packaged model is scored on all of them (ingest the whole FER2013)"
        )


def check_provenance(reference: str, run_tags: dict[str, str]) -> None:
    """A packaged model's card gives the commit and command that reproduce it: the commit must be in
    this repository's history, and the run must have trained that commit's code, unchanged."""
    from ferpipe.core.tracking import git

    commit = run_tags.get("mlflow.source.git.commit")
    if not commit:
        raise ValueError(f"{reference}: its run recorded no git commit: train it in a git checkout")
    if run_tags.get("uncommitted_changes") != "false":
        said = "had uncommitted changes" if run_tags.get("uncommitted_changes") == "true" else "recorded no clean state"
        raise ValueError(
            f"{reference}: its run {said} to the code of {commit[:12]}: no command could reproduce it; "
            "commit, then train again"
        )
    reachable = git("merge-base", "--is-ancestor", commit, "HEAD")
    if reachable is None or reachable.returncode != 0:
        raise ValueError(
            f"{reference}: trained at commit {commit[:12]}, which is not in this repository's history (HEAD): "
            "push or merge it first, or train on a commit that is"
        )


def check_not_worse(reference: str, target: Path, correct: np.ndarray, faces: np.ndarray, labels: np.ndarray) -> None:
    """Refuse to replace the packaged model with one that scores below it on the same faces. A packaged
    model that cannot be loaded (damaged) is no standard to keep."""
    from ferpipe.packaged import Packaged, PackagedModelError

    if not (target / MODEL).is_file():
        return
    current = Packaged(target)
    try:
        network, calibration = current.network(), current.calibration
    except PackagedModelError:
        return
    answers = served_probabilities(network, faces, 256, calibration)
    kept = float((answers.argmax(axis=1) == labels).mean())
    if correct.mean() < kept:
        raise ValueError(
            f"{reference}: PrivateTest accuracy {correct.mean():.4f} as packaged, below the packaged "
            f"{current.metadata['registered']}'s {kept:.4f} on the same {len(labels)} faces: not shipped "
            "(--force ships it anyway)"
        )


def packaged_file(
    reference: str,
    folder: Path,
    artifacts: dict[str, Any],
    quantization: str,
    faces: np.ndarray,
    labels: np.ndarray,
    calibration: Calibration,
) -> tuple[Path, np.ndarray, np.ndarray]:
    """The LiteRT file to package (the logged float32 export, or the Keras network quantized) and
    which test faces it and the float32 file answer right; refused if quantizing loses too much."""
    from ferpipe.core.serving import LITE_NETWORK, NETWORK

    float32_file = folder / artifacts[LITE_NETWORK]["path"]
    float32_correct = correct_answers(float32_file, faces, labels, calibration)
    if quantization == "none":
        return float32_file, float32_correct, float32_correct
    if NETWORK not in artifacts:
        raise ValueError(f"{reference}: has no Keras network to quantize (ship it with --quantize none)")
    lite_file = quantized(folder / artifacts[NETWORK]["path"], quantization, folder / f"{quantization}.tflite")
    correct = correct_answers(lite_file, faces, labels, calibration)
    lost = 100 * (float32_correct.mean() - correct.mean())
    if lost > QUANTIZED_POINTS_LOST:
        raise ValueError(
            f"{reference}: quantized {quantization}, PrivateTest accuracy falls from "
            f"{float32_correct.mean():.4f} to {correct.mean():.4f} ({lost:.2f} points, more than "
            f"{QUANTIZED_POINTS_LOST}): ship it with --quantize float16 or none"
        )
    return lite_file, correct, float32_correct


def correct_answers(lite_file: Path, faces: np.ndarray, labels: np.ndarray, calibration: Calibration) -> np.ndarray:
    from ferpipe.core.lite import LiteModel

    return served_probabilities(LiteModel(lite_file), faces, 256, calibration).argmax(axis=1) == labels


def quantized(keras_file: Path, quantization: str, path: Path) -> Path:
    from ferpipe.core.entry import quiet_start
    from ferpipe.core.lite import export

    with quiet_start():  # TensorFlow's C++ start-up lines, printed whatever its log level says
        import keras

    return export(keras.models.load_model(keras_file), path, quantization)
