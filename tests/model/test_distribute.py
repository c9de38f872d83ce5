"""`train.distribute`: tf.distribute strategies, the multi-worker one as two real local processes."""

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import pytest

from ferpipe.core.paths import TrainOutputs
from ferpipe.train.stage import train
from tests.conftest import REPO_ROOT, config_of, free_ports
from tests.model.conftest import TINY

pytestmark = pytest.mark.slow  # TensorFlow models, trained or served


def test_two_multi_worker_processes_train_together_and_end_with_the_same_weights(tmp_path, synthetic_arrays):
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    overrides = [
        "train.arch=tiny_cnn",
        "train.epochs=2",
        "train.batch_size=32",
        "train.lr=3e-3",
        "train.distribute=multi_worker",
        "tracking.experiment=tests",
    ]
    workers, folders = [], []
    for index in range(2):
        folder = tmp_path / f"worker{index}"  # each worker in its own checkout, as on separate machines
        shutil.copytree(synthetic_arrays, folder / "data/arrays")
        shutil.copy(REPO_ROOT / "params.yaml", folder / "params.yaml")
        env = {
            **os.environ,
            "DVC_ROOT": str(folder),
            "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
        }
        env.pop("MLFLOW_TRACKING_URI", None)
        workers.append(
            subprocess.Popen(
                [Path(sys.executable).parent / "ferpipe", "train", *(f"-S{o}" for o in overrides)],
                cwd=folder,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
        folders.append(folder)
    logs = [worker.communicate(timeout=600)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], "\n".join(log[-3000:] for log in logs)
    assert all("2 replica(s)" in log for log in logs)
    # TensorFlow's worker server listens on every interface, whatever TF_CONFIG says: each worker warns.
    for log, address in zip(logs, cluster["worker"], strict=True):
        assert (
            f"warning: train.distribute=multi_worker: TensorFlow's worker server will listen on port "
            f"{address.rpartition(':')[2]} of every network interface, not only {address}"
        ) in log

    chief, other = (keras.saving.load_model(folder / TrainOutputs.model).get_weights() for folder in folders)
    for chief_weights, other_weights in zip(chief, other, strict=True):
        np.testing.assert_array_equal(chief_weights, other_weights)
    # Only the chief logs to MLflow.
    assert (folders[0] / TrainOutputs.run).exists() and (folders[0] / "mlflow.db").exists()
    assert not (folders[1] / TrainOutputs.run).exists() and not (folders[1] / "mlflow.db").exists()


def test_mirrored_strategy_trains_on_the_cpu_when_there_is_no_gpu(workspace):
    summary = train(replace(TINY, distribute="mirrored"), config_of("tracking", experiment="tests"))
    assert summary["epochs"] == TINY.epochs and Path(TrainOutputs.model).exists()


def test_multi_worker_without_a_cluster_description_says_what_it_needs(workspace, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        train(replace(TINY, distribute="multi_worker"), config_of("tracking", experiment="tests"))
