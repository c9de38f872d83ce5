import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from ferpipe.convert.stage import convert
from ferpipe.ingest.stage import ingest
from ferpipe.synthesize.stage import write_synthetic_csv
from tests.conftest import NO_AUGMENTATION, config_of


@pytest.fixture(scope="session")
def synthetic_arrays(tmp_path_factory) -> Path:
    """Arrays of a small synthetic data set, built once through the real ingest and convert."""
    folder = tmp_path_factory.mktemp("arrays")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        write_synthetic_csv(
            Path("fer2013.csv"), config_of("synthetic", rows={"Training": 280, "PublicTest": 70, "PrivateTest": 70})
        )
        ingest(config_of("ingest", source="fer2013.csv"))
        convert()
    return folder / "data/arrays"


@pytest.fixture
def workspace(tmp_path, monkeypatch, synthetic_arrays):
    """An empty stage folder, a git repository with one commit (runs record it, and `ship` checks
    it), with the arrays in place and a private MLflow store."""
    import subprocess

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    monkeypatch.delenv("DVC_EXP_BASELINE_REV", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    shutil.copytree(synthetic_arrays, tmp_path / "data/arrays")
    identity = ["-c", "user.name=ferpipe tests", "-c", "user.email=tests@ferpipe.invalid"]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", *identity, "commit", "-q", "--allow-empty", "-m", "workspace"], cwd=tmp_path, check=True)
    return tmp_path


TINY = config_of(
    "train",
    arch="tiny_cnn",
    epochs=3,
    batch_size=32,
    lr=3e-3,
    seed=1,
    augment=NO_AUGMENTATION,
    schedule=replace(config_of("train").schedule, kind="none"),
)
