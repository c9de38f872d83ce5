"""A stage run as dvc.yaml runs it and refused, for any reason: one line naming the problem on
stderr, exit status 1, before TensorFlow is imported, and none of its earlier outputs left behind
for the next stage to take as current."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ferpipe.core.paths import STAGE_OUTPUTS, ConvertOutputs, IngestOutputs, TrainOutputs
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow  # each case starts the stage as its own process

# Runs the stage's own `__main__` (what `python -m ferpipe.<stage>` runs), then says whether
# TensorFlow was imported by the time it exited.
PROBE = """
import runpy, sys
sys.argv = ["ferpipe." + sys.argv[1], *sys.argv[2:]]
try:
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
except SystemExit as done:
    print(done.code, "tensorflow" in sys.modules)
"""


def run_stage(stage: str, *args: str) -> tuple[int, bool, list[str]]:
    done = subprocess.run([sys.executable, "-c", PROBE, stage, *args], capture_output=True, text=True, timeout=120)
    code, tensorflow = done.stdout.split()
    return int(code), tensorflow == "True", done.stderr.splitlines()


def leave_earlier_outputs(stage: str) -> list[Path]:
    outputs = [field.default for field in dataclasses.fields(STAGE_OUTPUTS[stage])]
    for path in outputs:
        target = path / "x_train.npy" if path == ConvertOutputs.arrays else path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"from an earlier run")
    return outputs


def write_arrays() -> None:
    """A small, whole arrays folder as convert writes it (manifest listing its files)."""
    folder = ConvertOutputs.arrays
    folder.mkdir(parents=True, exist_ok=True)
    files = {"x_train.npy": np.zeros((4, 48, 48, 1), np.uint8), "y_train.npy": np.zeros(4, np.int64)}
    for name, array in files.items():
        np.save(folder / name, array)
    (folder / "manifest.json").write_text(
        '{"files": {"x_train.npy": "", "y_train.npy": ""}, "label_names": ["a"],'
        ' "splits": {"test": {"count": 1}}, "data": "synthetic"}'
    )


def damage(path: Path, how: str) -> None:
    """An input made missing, corrupt (bytes no stage writes) or truncated (a whole file cut short)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if how == "corrupt":
        path.write_bytes(b"\x00 not what the stage before writes \xff")
    elif how == "truncated":
        whole = path.read_bytes()
        path.write_bytes(whole[: len(whole) // 2])
    elif path.exists():
        path.unlink()


def whole_keras_model(path: Path) -> None:

    from ferpipe.models import build_model

    path.parent.mkdir(parents=True, exist_ok=True)
    build_model("tiny_cnn", (48, 48, 1), 1).save(path)


# stage → the input each damage is done to, and what the stage says about it
INPUT_CASES = [
    ("convert", IngestOutputs.faces, "missing"),
    ("convert", IngestOutputs.faces, "corrupt"),
    ("train", ConvertOutputs.arrays / "manifest.json", "missing"),
    ("train", ConvertOutputs.arrays / "manifest.json", "corrupt"),
    ("train", ConvertOutputs.arrays / "x_train.npy", "truncated"),
    ("train", ConvertOutputs.arrays / "y_train.npy", "missing"),
    ("evaluate", TrainOutputs.model, "missing"),
    ("evaluate", TrainOutputs.model, "corrupt"),
    ("evaluate", TrainOutputs.model, "truncated"),
    ("evaluate", TrainOutputs.metrics, "missing"),
    ("evaluate", ConvertOutputs.arrays / "x_train.npy", "truncated"),
]
SAID = {"missing": "not found", "corrupt": "cannot be read", "truncated": "cannot be read"}


@pytest.mark.parametrize("stage, damaged, how", INPUT_CASES, ids=[f"{s}-{p.name}-{h}" for s, p, h in INPUT_CASES])
def test_a_bad_input_is_one_line_naming_the_file_before_tensorflow_and_leaves_no_stale_output(
    in_tmp, stage, damaged, how
):
    (Path("params.yaml")).write_text((REPO_ROOT / "params.yaml").read_text())
    write_arrays()
    if stage == "evaluate":
        whole_keras_model(TrainOutputs.model)
        TrainOutputs.metrics.parent.mkdir(parents=True, exist_ok=True)
        TrainOutputs.metrics.write_text('{"best_epoch": 1}')
    damage(damaged, how)
    stale = leave_earlier_outputs(stage)
    code, tensorflow, lines = run_stage(stage)
    assert code == 1 and len(lines) == 1, lines
    assert lines[0].startswith(f"error: {damaged}: ") and SAID[how] in lines[0], lines
    assert not tensorflow, "the input was checked only after TensorFlow started"
    assert not any(path.exists() for path in stale)


SOURCE_REFUSALS = {  # ingest.source made into something ingest refuses, and a word of what it says
    "missing": (lambda path: None, "no such file"),
    "fifo": (lambda path: os.mkfifo(path), "FIFO"),
    "dangling link": (lambda path: path.symlink_to("nowhere.csv"), "leads nowhere"),
    "link loop": (lambda path: path.symlink_to(path.name), "leads nowhere"),
}


@pytest.mark.parametrize("kind", list(SOURCE_REFUSALS))
def test_a_refused_source_leaves_none_of_the_last_sources_faces(in_tmp, kind):
    make, said = SOURCE_REFUSALS[kind]
    (Path("params.yaml")).write_text((REPO_ROOT / "params.yaml").read_text())
    source = Path("source.csv")
    make(source)
    stale = leave_earlier_outputs("ingest")
    code, _, lines = run_stage("ingest", "-S", f"ingest.source={source}")
    assert code == 1 and len(lines) == 1 and said in lines[0], lines
    assert not any(path.exists() for path in stale)
    code, _, lines = run_stage("convert")  # and the next stage has nothing to take for the new source's
    assert code == 1 and lines == [f"error: {IngestOutputs.faces}: not found; run the ingest stage first (dvc repro)"]


@pytest.mark.parametrize("stage", list(STAGE_OUTPUTS))
def test_a_bad_parameter_leaves_no_stale_output_of_any_stage(in_tmp, stage):
    (Path("params.yaml")).write_text((REPO_ROOT / "params.yaml").read_text())
    stale = leave_earlier_outputs(stage)
    code, tensorflow, lines = run_stage(stage, "-S", "evaluate.batch_size=many")
    assert code == 1 and len(lines) == 1 and "batch_size" in lines[0] and "many" in lines[0], lines
    assert not tensorflow
    assert not any(path.exists() for path in stale)
