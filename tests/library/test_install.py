"""The install a user does: `pip install ferpipe` is light (no pipeline package comes with it) and
predicts from the command line and from Python; the pinned stack has wheels for every Python the
project supports. These ask the package index (PyPI), as a user's pip does."""

import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, grace_hopper

pytestmark = pytest.mark.slow  # builds a wheel and installs it into a fresh virtual environment

PIPELINE_PACKAGES = ("tensorflow", "keras", "mlflow", "dvc", "pandas", "pyarrow", "scikit-learn")
LIGHT_INSTALL_LIMIT = 400 << 20  # bytes of the whole virtual environment, pip included
# Pure-Python packages the lock pins that publish no wheel, only a source archive (installable on
# any Python): hydra's parser runtime, which DVC brings.
SOURCE_ONLY = ("antlr4-python3-runtime",)


# The fresh environment sees only what was installed into it, not this checkout's sources.
CLEAN = {name: value for name, value in os.environ.items() if name not in ("PYTHONPATH", "VIRTUAL_ENV")}


def run(*command, **options) -> str:
    options.setdefault("env", CLEAN)
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=900, **options)
    assert done.returncode == 0, f"{' '.join(map(str, command))}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def test_the_wheel_installs_light_and_predicts_on_the_command_line_and_in_python(tmp_path):
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "dist", REPO_ROOT)
    (wheel,) = (tmp_path / "dist").glob("ferpipe-*.whl")
    carried = set(zipfile.ZipFile(wheel).namelist())
    for family in ("fer2013", "ferplus"):
        for name in ("model.tflite", "metadata.json", "model_card.md"):
            assert f"ferpipe/packaged/{family}/{name}" in carried
    assert {"ferpipe/detect/blazeface_back.tflite", "ferpipe/detect/LICENSE-blazeface.txt"} <= carried
    assert "ferpipe/tools/page.html" in carried

    venv = tmp_path / "venv"
    run(getattr(sys, "_base_executable", sys.executable), "-m", "venv", venv)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", wheel)
    installed = {p["name"].lower() for p in json.loads(run(python, "-m", "pip", "list", "--format", "json"))}
    assert not installed & set(PIPELINE_PACKAGES), installed & set(PIPELINE_PACKAGES)
    assert folder_bytes(venv) <= LIGHT_INSTALL_LIMIT, f"{folder_bytes(venv) / 2**20:.0f} MB"

    photo = str(grace_hopper())
    predicted = subprocess.run(
        [venv / "bin" / "ferpipe", "predict", photo],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=CLEAN,
    )
    assert predicted.returncode == 0, predicted.stderr
    header, row = predicted.stdout.splitlines()
    assert header.startswith("source,face,time,x,y,width,height,score,emotion,angry") and row.count(
        ","
    ) == header.count(",")

    api = (
        "import numpy as np; from PIL import Image; from ferpipe import Recognizer; "
        f"p = {photo!r}; r = Recognizer(); "
        "a = [r.predict(x) for x in (p, Image.open(p), np.asarray(Image.open(p).convert('RGB')))]; "
        "print(len(a[0]), a[0][0].emotion, all(x[0].probabilities == a[0][0].probabilities for x in a))"
    )
    assert run(python, "-c", api, cwd=tmp_path).split()[::2] == ["1", "True"]
    pipeline = subprocess.run(
        [venv / "bin" / "ferpipe", "promote"], capture_output=True, text=True, cwd=tmp_path, env=CLEAN
    )
    assert pipeline.returncode == 1
    assert (
        pipeline.stderr
        == "error: this needs the pipeline install (mlflow is not installed): pip install 'ferpipe[pipeline]'\n"
    )


def pip_dry_run(version: str, *requirements: str, deps: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed", "--only-binary=:all:",
         "--python-version", version, *([] if deps else ["--no-deps"]), *requirements],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.mark.parametrize("version", ["3.11", "3.12", "3.13"])
def test_the_pinned_stack_has_wheels_for_each_supported_python(tmp_path, version):
    pins = [
        line
        for line in (REPO_ROOT / "requirements.lock").read_text().splitlines()
        if line.strip() and not line.startswith("#") and line.split("==")[0] not in SOURCE_ONLY
    ]
    (tmp_path / "pins.txt").write_text("\n".join(pins) + "\n")
    done = pip_dry_run(version, "-r", str(tmp_path / "pins.txt"), deps=False)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_light_install_resolves_on_python_3_14_and_the_pipeline_does_not_yet():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    light = pip_dry_run("3.14", *project["dependencies"])
    assert light.returncode == 0, light.stderr[-2000:]
    pipeline = pip_dry_run("3.14", *project["optional-dependencies"]["pipeline"])
    assert pipeline.returncode != 0 and "tensorflow" in pipeline.stderr.lower()  # what the README says 3.14 lacks
