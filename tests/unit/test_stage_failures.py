"""A stage run as dvc.yaml runs it, on an input that is missing or corrupt: one line naming the
file on stderr, exit status 1, and none of its earlier outputs left to look current."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ferpipe.core.paths import (
    ConvertOutputs,
    EvaluateOutputs,
    IngestOutputs,
    TrainOutputs,
)
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow  # each stage started as its own process, TensorFlow included

CASES = {  # stage: (its input, the outputs an earlier run left)
    "convert": (IngestOutputs.faces, [ConvertOutputs.arrays / "x_train.npy"]),
    "train": (ConvertOutputs.arrays / "manifest.json", [TrainOutputs.model, TrainOutputs.metrics]),
    "evaluate": (TrainOutputs.model, [EvaluateOutputs.metrics, EvaluateOutputs.per_class]),
}


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
@pytest.mark.parametrize("stage", list(CASES))
def test_a_bad_input_is_one_line_naming_the_file_and_leaves_no_stale_output(in_tmp, stage, damage):
    shutil.copy(REPO_ROOT / "params.yaml", "params.yaml")
    needed, stale = CASES[stage]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"from an earlier run")
    if stage == "evaluate":  # its other input is fine: only the model is damaged
        ConvertOutputs.arrays.mkdir(parents=True, exist_ok=True)
        (ConvertOutputs.arrays / "manifest.json").write_text('{"label_names": ["a"], "splits": {"test": {"count": 1}}}')
    if damage == "corrupt":
        needed.parent.mkdir(parents=True, exist_ok=True)
        needed.write_bytes(b"\x00 not what the stage before writes \xff")
    done = subprocess.run([sys.executable, "-m", f"ferpipe.{stage}"], capture_output=True, text=True)
    assert done.returncode == 1, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if not line.startswith(("I0000", "WARNING: All log", "E0000"))]
    assert len(lines) == 1 and lines[0].startswith(f"error: {needed}: "), done.stderr[-2000:]
    assert ("not found" if damage == "missing" else "cannot be read") in lines[0]
    assert not any(Path(path).exists() for path in stale)
