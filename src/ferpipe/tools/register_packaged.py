"""`ferpipe register-packaged`: a packaged model as a model of this MLflow store, registered as its
registered model's challenger with the figures and provenance its metadata states, so promote,
compare and serving by alias treat it as a model trained here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ferpipe.core import tracking
from ferpipe.core.inference import Calibration
from ferpipe.packaged import CARD, MODEL


def as_mlflow_model(family: str, save_to: Path | None = None) -> str:
    """The packaged model as an MLflow model answering as a trained one does (its LiteRT file, its
    calibration): logged into the active run, or saved to `save_to`; its URI or folder."""
    import mlflow

    from ferpipe.packaged import packaged

    model = packaged(family)
    meta = model.metadata
    example = np.zeros((2, 48, 48, 1), np.uint8)
    calibration = model.calibration
    model.network()  # the file the metadata describes, or one line saying why not
    uri = tracking.log_model_files((None, model.folder / MODEL), example, meta["label_names"], meta["data"], save_to)
    if save_to is not None:
        calibration.write(Path(save_to) / Calibration.FILE)
    else:
        tracking.log_calibration(uri, calibration)
        mlflow.log_metrics(
            {
                "eval.val_accuracy": meta["val_accuracy"],
                "eval.test.accuracy": meta["test"]["accuracy"],
                "eval.test.accuracy_ci95.low": meta["test"]["accuracy_ci95"][0],
                "eval.test.accuracy_ci95.high": meta["test"]["accuracy_ci95"][1],
            }
        )
    return uri


def register_packaged(family: str, tracking_config) -> tuple[str, bool]:
    """The packaged model registered in this store as the `challenger` of its registered model, with
    the figures and provenance its metadata states, so promote, compare and serving treat it as
    one trained here; the version number, and whether it is new. Registering the same file again
    changes nothing: its version is found by the file's sha256."""
    import mlflow

    from ferpipe.core import registry
    from ferpipe.packaged import packaged

    model = packaged(family)
    meta = model.metadata
    name = registry.registered_name(tracking_config.registered_model, meta["data"], meta["labels"])
    same_file = f"name = '{name}' and tag.model_sha256 = '{meta['model_sha256']}'"
    found = mlflow.MlflowClient().search_model_versions(same_file)
    if found:
        return str(found[0].version), False
    with tracking.open_run(tracking_config.experiment, name=f"packaged-{family}") as run:
        mlflow.set_tags(
            {
                "stage": "packaged",
                "data": meta["data"],
                "labels": meta["labels"],
                "dataset_sha256": meta["dataset_sha256"],
                "packaged_from": meta["registered"],
                "mlflow.source.git.commit": meta["git_commit"] or "",
            }
        )
        mlflow.log_params({k: v for k, v in meta["params"].items() if len(str(v)) <= 500})
        uri = as_mlflow_model(family)
    tags = {
        "model_sha256": meta["model_sha256"],
        "val_accuracy": meta["val_accuracy"],
        "test_accuracy": meta["test"]["accuracy"],
        "test_accuracy_ci95": meta["test"]["accuracy_ci95"],
        "run_id": run.info.run_id,
        "data": meta["data"],
        "labels": meta["labels"],
        "dataset_sha256": meta["dataset_sha256"],
        "packaged_from": meta["registered"],
        "temperature": meta["calibration"]["temperature"],
        "evaluate.tta": meta["calibration"]["tta"],
    }
    return registry.register(uri, name, tags, description=(model.folder / CARD).read_text()), True
