"""`kill -9` in the middle of training, then `dvc repro`: the run resumes and ends where an uninterrupted one does."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import TINY_ROWS, copy_repository, sh

pytestmark = [pytest.mark.slow, pytest.mark.pipeline]
# Augmentation, cosine schedule and dropout stay on (the committed recipe's): they all draw random numbers.
TRAIN = {"arch": "tiny_cnn", "epochs": 8, "batch_size": 16, "lr": 3e-3}


def results(copy: Path) -> tuple[str, dict]:
    """Per-epoch history and every evaluation metric (PublicTest, PrivateTest, de-duplicated, binary)."""
    return (copy / "reports/train/history.csv").read_text(), json.loads(
        (copy / "reports/eval/details.json").read_text()
    )


def kill_training_after_epoch(copy: Path, epoch: int) -> None:
    """Start `dvc repro -f train` and SIGKILL its whole process group once `epoch` epochs are checkpointed."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    repro = subprocess.Popen(
        ["dvc", "repro", "--force", "--single-item", "train"],
        cwd=copy,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    metadata = copy / "checkpoints/train/backup/training_metadata.json"
    deadline = time.monotonic() + 300
    try:
        while not (metadata.exists() and json.loads(metadata.read_text() or "{}").get("epoch", 0) >= epoch):
            assert repro.poll() is None, "training ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        os.killpg(repro.pid, signal.SIGKILL)
        repro.wait()


def test_killed_training_resumes_under_dvc_repro_and_ends_with_the_same_metrics(tmp_path):
    copy = copy_repository(tmp_path, {"synthetic": {"rows": TINY_ROWS}, "train": TRAIN})
    sh("dvc", "repro", cwd=copy)
    uninterrupted = results(copy)

    kill_training_after_epoch(copy, 3)
    out = sh("dvc", "repro", cwd=copy)
    assert "Running stage 'train'" in out and "resuming MLflow run" in out
    summary = json.loads((copy / "reports/train/train_metrics.json").read_text())
    assert summary["epochs"] == 8 and summary["epochs_this_run"] < 8
    assert results(copy) == uninterrupted
