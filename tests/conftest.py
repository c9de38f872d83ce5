"""Shared helpers: small FER-format files that tests write themselves, and the real data's path."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml

from ferpipe.core.config import Config, load_config

REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_FER2013 = Path(os.environ.get("FER2013_CSV", REPO_ROOT.parent / "shared/data/fer2013/fer2013.csv.gz"))
REAL_FERPLUS = Path(os.environ.get("FERPLUS_CSV", REAL_FER2013.parent / "fer2013new.csv"))


def params(*overrides: str) -> Config:
    """The repository's params.yaml with `group.key=value` overrides: the values a stage runs with."""
    return load_config(REPO_ROOT / "params.yaml", overrides)


def config_of(group: str, **changes):
    """One group of params.yaml with some values changed, e.g. config_of("ingest", source="a.csv")."""
    return dataclasses.replace(getattr(params(), group), **changes)


def composed(*overrides: str) -> dict:
    """What `dvc exp run -S ...` writes to params.yaml: conf/ composed by Hydra, overrides applied."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(str(REPO_ROOT / "conf"), version_base=None):
        return OmegaConf.to_container(compose("config", overrides=list(overrides)), resolve=True)


NO_AUGMENTATION = dataclasses.replace(params().train.augment, flip=False, shift=0.0, rotation=0.0, zoom=0.0)


def random_faces(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(count, 2304), dtype=np.uint8)


def pixel_text(face: np.ndarray) -> str:
    return " ".join(map(str, face))


def fer_csv_text(labels, usages, faces, newline: str = "\n") -> str:
    lines = ["emotion,pixels,Usage"] + [
        f"{label},{pixel_text(face)},{usage}" for label, usage, face in zip(labels, usages, faces, strict=True)
    ]
    return newline.join(lines) + newline


@pytest.fixture(autouse=True)
def no_leaked_tracking_uri():
    """mlflow.set_tracking_uri() also sets MLFLOW_TRACKING_URI in os.environ; without this, one
    test's store would leak into the subprocesses (dvc repro, mlflow run) of the next."""
    before = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    if before is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = before


@pytest.fixture
def small_fer():
    """21 faces: every class in Training, PublicTest and PrivateTest."""
    labels = [label for label in range(7) for _ in range(3)]
    usages = ["Training", "PublicTest", "PrivateTest"] * 7
    return labels, usages, random_faces(21)


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run the test from an empty folder, as a stage runs from the repository root."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def grace_hopper() -> Path:
    """A real photo of one face that ships inside a package the tests' install has (matplotlib's
    sample of Grace Hopper, a US Navy portrait in the public domain)."""
    import matplotlib.cbook

    return Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


def require_real_data() -> Path:
    if not REAL_FER2013.is_file():
        pytest.skip(f"real FER2013 not found at {REAL_FER2013} (set FER2013_CSV to its path)")
    return REAL_FER2013


def require_real_votes() -> Path:
    require_real_data()
    if not REAL_FERPLUS.is_file():
        pytest.skip(f"FER+ votes not found at {REAL_FERPLUS} (set FERPLUS_CSV to fer2013new.csv)")
    return REAL_FERPLUS


TINY_ROWS = {"Training": 140, "PublicTest": 35, "PrivateTest": 35}
LOCAL_RESULTS = ("reports/", "dvc.lock")  # this checkout's own results: a fresh clone has none


def sh(*command, cwd, env=None, returncode: int = 0):
    """Run a command as a user would, with this interpreter's scripts (ferpipe, dvc, mlflow) on PATH;
    its output, once it has exited with `returncode`."""
    env = {**os.environ, **(env or {}), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    # Output goes through a file, not a pipe: `dvc queue start` leaves workers running that hold
    # what it was given, and reading a pipe to its end would wait for them.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        done = subprocess.run(command, cwd=cwd, env=env, stdout=out, stderr=err, text=True)
        text = [stream.seek(0) or stream.read() for stream in (out, err)]
    assert done.returncode == returncode, (
        f"{' '.join(map(str, command))} exited {done.returncode}:\n{text[0][-3000:]}\n{text[1][-3000:]}"
    )
    return text[0] + text[1]


def free_ports(count: int) -> list[int]:
    """Ports on 127.0.0.1 that nothing listens on, for servers a test starts."""
    probes = [socket.socket() for _ in range(count)]
    for probe in probes:  # all bound at once, so that no two are the same
        probe.bind(("127.0.0.1", 0))
    ports = [probe.getsockname()[1] for probe in probes]
    for probe in probes:
        probe.close()
    return ports


def post_json(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, dict]:
    """POST `body` to a server a test started; the status and the JSON it answered, error or not."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_until_up(url: str, server: subprocess.Popen, log: Path, seconds: float = 120) -> None:
    """Wait for a server a test started to answer `url`; fail with the end of its log if it exits or
    does not answer in time."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"{url} did not come up:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)


def copy_repository(destination: Path, params_update: dict) -> Path:
    """A fresh clone-like copy of the repository, committed in a new git repository, with
    `params_update` (group -> values) written into conf/config.yaml and params.yaml composed
    from it, as `dvc exp run` would compose it."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    for name in listed:
        if (REPO_ROOT / name).is_file() and not name.startswith(LOCAL_RESULTS):
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, destination / name)
    compose_params(destination, params_update)
    identity = ["-c", "user.name=ferpipe tests", "-c", "user.email=tests@ferpipe.invalid"]
    sh("git", "init", "-q", cwd=destination)
    sh("git", "add", "-A", cwd=destination)
    sh("git", *identity, "commit", "-qm", "copy", cwd=destination)
    return destination


def compose_params(repository: Path, params_update: dict) -> None:
    """Values in conf/config.yaml's own body win over the groups it selects (`_self_` comes last)."""
    from dvc.utils.hydra import compose_and_dump

    config_file = repository / "conf/config.yaml"
    config = yaml.safe_load(config_file.read_text())
    for group, values in params_update.items():
        config.setdefault(group, {}).update(values)
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    compose_and_dump(repository / "params.yaml", str(repository / "conf"), None, "config", str(repository), [])
