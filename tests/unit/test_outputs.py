"""Outputs written whole, in two modes: a stage's outputs are cleared before it runs (nothing stale
survives a failure), and what a user names or the package carries stays until its replacement is
whole, through failures and kills."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from ferpipe.core import files
from ferpipe.core.files import STAGING_PREFIX, atomic_outputs, remove_abandoned_staging


def old_outputs(tmp_path):
    (tmp_path / "results.csv").write_text("old rows\n")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights").write_text("old weights")
    return tmp_path / "results.csv", tmp_path / "model"


def test_a_failed_write_keeps_what_a_user_named_and_a_stage_clears_its_own(tmp_path):
    results, model = old_outputs(tmp_path)
    with pytest.raises(ValueError), atomic_outputs(results, model, keep_old=True) as staged:
        staged(results).write_text("half")
        raise ValueError("the work failed")
    assert results.read_text() == "old rows\n" and (model / "weights").read_text() == "old weights"
    assert not list(tmp_path.glob(f"{STAGING_PREFIX}*"))

    with pytest.raises(ValueError), atomic_outputs(results, model) as staged:  # a stage's outputs
        raise ValueError("the work failed")
    assert not results.exists() and not model.exists()


def test_a_whole_write_replaces_files_and_folders(tmp_path):
    results, model = old_outputs(tmp_path)
    with atomic_outputs(results, model, keep_old=True) as staged:
        staged(results).write_text("new rows\n")
        staged(model).mkdir()
        (staged(model) / "weights").write_text("new weights")
    assert results.read_text() == "new rows\n" and [p.name for p in model.iterdir()] == ["weights"]
    assert (model / "weights").read_text() == "new weights"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "results.csv"]


def test_a_move_that_fails_half_way_puts_every_old_output_back(tmp_path, monkeypatch):
    results, model = old_outputs(tmp_path)
    real_replace, calls = os.replace, []

    def failing_on_the_last(source, target):
        calls.append(target)
        if len(calls) == 4:  # old results aside, new results in, old model aside, new model in: fails
            raise OSError(28, "No space left on device")
        real_replace(source, target)

    monkeypatch.setattr(files.os, "replace", failing_on_the_last)
    with pytest.raises(OSError), atomic_outputs(results, model, keep_old=True) as staged:
        staged(results).write_text("new rows\n")
        staged(model).mkdir()
    monkeypatch.undo()
    assert results.read_text() == "old rows\n" and (model / "weights").read_text() == "old weights"


KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from ferpipe.core import files
target = Path(sys.argv[1])
if sys.argv[2] == "between-renames":  # killed after the old folder is moved aside, before the new one is in
    real = os.replace
    def replace(source, destination):
        real(source, destination)
        if Path(destination).name == target.name and "old" in Path(destination).parts:
            os.kill(os.getpid(), signal.SIGKILL)
    files.os.replace = replace
with files.atomic_outputs(target, keep_old=True) as staged:
    staged(target).mkdir()
    (staged(target) / "weights").write_text("new, half written")
    if sys.argv[2] == "while-writing":
        os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("moment", ["while-writing", "between-renames"])
def test_a_killed_write_leaves_the_old_output_usable_and_the_next_write_cleans_up(tmp_path, moment):
    _, model = old_outputs(tmp_path)
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(KILLED_WRITER), str(model), moment], timeout=60)
    assert done.returncode == -signal.SIGKILL
    assert list(tmp_path.glob(f"{STAGING_PREFIX}*")), "a kill leaves its staging folder"
    remove_abandoned_staging(tmp_path)  # what the next write there does first
    assert (model / "weights").read_text() == "old weights"
    assert not list(tmp_path.glob(f"{STAGING_PREFIX}*"))
