"""`dvc repro` end to end on the embedded synthetic data, in a temporary copy of the repository."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.pipeline
TINY_ROWS = {"Training": 140, "PublicTest": 35, "PrivateTest": 35}


def sh(*command, cwd):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A fresh clone-like copy: the files git would have, committed in a new repository."""
    copy = tmp_path_factory.mktemp("repo")
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO_ROOT,
                            capture_output=True, text=True, check=True).stdout.splitlines()
    for name in listed:
        if (REPO_ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, copy / name)
    params = yaml.safe_load((copy / "params.yaml").read_text())
    params["synthetic"]["rows"] = TINY_ROWS
    (copy / "params.yaml").write_text(yaml.safe_dump(params))
    sh("git", "init", "-q", cwd=copy)
    sh("git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy", "--allow-empty", cwd=copy)
    sh("git", "add", "-A", cwd=copy)
    sh("git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy", cwd=copy)
    sh("ferpipe", "synthesize", "--if-missing", cwd=copy)
    first = sh("dvc", "repro", cwd=copy)
    return copy, first


def test_repro_runs_every_stage_and_writes_its_outputs(repo):
    copy, first = repo
    assert "Running stage 'ingest'" in first and "Running stage 'convert'" in first
    manifest = json.loads((copy / "data/arrays/manifest.json").read_text())
    assert manifest["data"] == "synthetic"
    assert {k: v["count"] for k, v in manifest["splits"].items()} == {"train": 140, "val": 35, "test": 35}
    assert np.load(copy / "data/arrays/x_train.npy").shape == (140, 48, 48, 1)
    assert (copy / "reports/data/class_distribution.png").stat().st_size > 0
    assert (copy / "dvc.lock").exists()


def test_metrics_and_plots_are_visible_to_dvc(repo):
    copy, _ = repo
    metrics = json.loads(sh("dvc", "metrics", "show", "--json", cwd=copy))
    report = metrics[""]["data"]["reports/data/data_report.json"]["data"]
    assert report["data"] == "synthetic"
    assert report["rows"]["by_usage"] == TINY_ROWS
    plots = json.loads(sh("dvc", "plots", "show", "--json", cwd=copy))["data"]
    table = plots["reports/data/class_distribution.csv"][0]["content"]["data"]["values"]
    assert {row["split"] for row in table} == {"train", "val", "test"}
    assert "reports/data/class_distribution.png" in plots


def test_second_repro_does_nothing(repo):
    copy, _ = repo
    before = (copy / "data/validated/faces.parquet").stat().st_mtime_ns
    second = sh("dvc", "repro", cwd=copy)
    assert "Running stage" not in second
    assert "up to date" in second
    assert (copy / "data/validated/faces.parquet").stat().st_mtime_ns == before


def test_changed_param_reruns_ingest(repo):
    copy, _ = repo
    params = yaml.safe_load((copy / "params.yaml").read_text())
    params["ingest"]["seed"] = 99
    (copy / "params.yaml").write_text(yaml.safe_dump(params))
    out = sh("dvc", "repro", cwd=copy)
    assert "Running stage 'ingest'" in out
