"""The registry stays in a state some order of commands gives: alias moves racing each other in
real processes, and a registration whose process was killed right after it, then retried."""

import os
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from ferpipe.core import registry
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow  # MLflow commands as processes of their own

NAME = "fer2013-expression"  # what `ferpipe promote` and `rollback` act on for real data

# A `ferpipe` command that reads the registry as usual, but waits a second before each alias move
# it makes: a window in which another command can read the same champion. Both commands start
# reading at the same moment (argv[1]), whatever their start-up took.
RACER = """
import sys, time
from mlflow import MlflowClient
move = MlflowClient.set_registered_model_alias
def slow_move(self, *args, **kwargs):
    time.sleep(1.0)
    return move(self, *args, **kwargs)
MlflowClient.set_registered_model_alias = slow_move
from ferpipe.cli import app
time.sleep(max(0.0, float(sys.argv[1]) - time.time()))
app(sys.argv[2:])
"""


@pytest.fixture
def store(in_tmp, monkeypatch):
    uri = f"sqlite:///{in_tmp / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    Path("params.yaml").write_text((REPO_ROOT / "params.yaml").read_text())
    return in_tmp


def logged_model() -> str:
    with mlflow.start_run():
        return f"models:/{mlflow.initialize_logged_model('model').model_id}"


def test_promote_racing_rollback_ends_as_one_of_them_ran_first(store):
    # v1 champion, then v2 promoted over it; v3 the challenger.
    for accuracy in (0.50, 0.60):
        registry.register(logged_model(), NAME, {"val_accuracy": accuracy})
        registry.promote(NAME, "val_accuracy", margin=0.0)
    registry.register(logged_model(), NAME, {"val_accuracy": 0.55})
    start = f"{time.time() + 8:.3f}"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, start, *command],
            env={**os.environ},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for command in (["promote", "--force"], ["rollback"])
    ]
    outputs = [racer.communicate(timeout=120)[0] for racer in racers]
    assert [racer.returncode for racer in racers] == [0, 0], outputs

    client = MlflowClient()
    champion = str(client.get_model_version_by_alias(NAME, registry.CHAMPION).version)
    tags = {v: client.get_model_version(NAME, v).tags for v in ("2", "3")}
    promote_first = champion == "2" and tags["3"].get("previous_champion") == "2" and "rolled_back" in tags["3"]
    rollback_first = champion == "3" and tags["3"].get("previous_champion") == "1" and "rolled_back" in tags["2"]
    assert promote_first or rollback_first, f"{champion} {tags} {outputs}"


# Registers a model, then dies at once by SIGKILL, as `dvc repro` killed right after evaluate
# registered: nothing after the registration (the alias, dvc.lock) can be relied on to be done.
KILLED_AFTER_REGISTERING = """
import os, signal, sys
from mlflow import MlflowClient
from ferpipe.core import registry
create = MlflowClient.create_model_version
def create_then_die(self, *args, **kwargs):
    create(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
MlflowClient.create_model_version = create_then_die
registry.register(sys.argv[1], sys.argv[2], {"run_id": "r1", "val_accuracy": 0.5})
"""


def test_a_registration_killed_then_run_again_leaves_one_version_with_the_alias(store):
    model_uri = logged_model()
    killed = subprocess.run([sys.executable, "-c", KILLED_AFTER_REGISTERING, model_uri, NAME], capture_output=True)
    assert killed.returncode == -9, killed.stderr[-2000:]
    again = registry.register(model_uri, NAME, {"run_id": "r1", "val_accuracy": 0.5})
    versions = MlflowClient().search_model_versions(f"name = '{NAME}'")
    assert [str(v.version) for v in versions] == [str(again)]
    assert MlflowClient().get_model_version_by_alias(NAME, registry.CHALLENGER).version == int(again)
