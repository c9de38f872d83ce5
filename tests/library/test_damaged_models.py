"""Models whose files are damaged, swapped or hand-edited, and destinations that cannot be written:
each refused in one line naming the file, exit status 1, before anything is predicted. A
calibration that is not a finite temperature above 0 would answer NaN, uniform or reversed
probabilities, so it is refused wherever it is read."""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import ferpipe.packaged
from ferpipe.cli import app
from ferpipe.core.inference import Calibration
from tests.conftest import random_faces

PACKAGED = Path(ferpipe.packaged.__file__).parent


@pytest.mark.parametrize("temperature", [0, -1.0, math.nan, math.inf, -math.inf, "1.2", True, None], ids=repr)
def test_a_temperature_that_is_not_finite_and_above_zero_is_refused(temperature):
    with pytest.raises(ValueError, match="temperature must be a finite number above 0"):
        Calibration(temperature)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^model/calibration.json: temperature must be"):
        Calibration.of({"temperature": temperature}, "model/calibration.json")


def test_an_unknown_test_time_view_is_refused_and_known_ones_kept():
    with pytest.raises(ValueError, match="tta must be one of none, flip, ten_crop, not 'mirror'"):
        Calibration(1.1, "mirror")
    assert Calibration.of({"temperature": 1.24, "tta": "flip"}, "x") == Calibration(1.24, "flip")


@pytest.fixture
def packaged_copy(tmp_path, monkeypatch):
    """A copy of the package's models that the test may damage, used as the package's own."""
    shutil.copytree(PACKAGED / "fer2013", tmp_path / "packaged" / "fer2013")
    shutil.copytree(PACKAGED / "ferplus", tmp_path / "packaged" / "ferplus")
    monkeypatch.setattr(ferpipe.packaged, "HERE", tmp_path / "packaged")
    Image.fromarray(random_faces(1).reshape(48, 48)).save(tmp_path / "face.png")
    return tmp_path / "packaged" / "fer2013"


def edit_metadata(folder: Path, change) -> None:
    meta = json.loads((folder / "metadata.json").read_text())
    change(meta)
    (folder / "metadata.json").write_text(json.dumps(meta))


def garbage_with_its_sha(folder: Path) -> None:
    import hashlib

    (folder / "model.tflite").write_bytes(b"not a flatbuffer" * 64)
    edit_metadata(folder, lambda m: m.update(model_sha256=hashlib.sha256(b"not a flatbuffer" * 64).hexdigest()))


def truncate(folder: Path) -> None:
    data = (folder / "model.tflite").read_bytes()
    (folder / "model.tflite").write_bytes(data[: len(data) // 2])


DAMAGE = {
    "truncated network": (truncate, "model.tflite: its sha256 is not the one metadata.json records"),
    "swapped network": (
        lambda f: shutil.copyfile(f.parent / "ferplus" / "model.tflite", f / "model.tflite"),
        "model.tflite: its sha256 is not the one metadata.json records",
    ),
    "garbage network": (garbage_with_its_sha, "model.tflite: not a LiteRT network"),
    "metadata missing": (lambda f: (f / "metadata.json").unlink(), "metadata.json: missing"),
    "metadata not JSON": (lambda f: (f / "metadata.json").write_text("{oops"), "metadata.json: not readable JSON"),
    "no calibration": (lambda f: edit_metadata(f, lambda m: m.pop("calibration")), "metadata.json: calibration"),
    "six class names": (
        lambda f: edit_metadata(f, lambda m: m["label_names"].pop()),
        "model.tflite: answers 7 classes, but metadata.json names 6",
    ),
    "temperature as text": (
        lambda f: edit_metadata(f, lambda m: m["calibration"].update(temperature="1.24")),
        "metadata.json calibration: temperature must be a finite number above 0, not '1.24'",
    ),
    "temperature 0": (
        lambda f: edit_metadata(f, lambda m: m["calibration"].update(temperature=0)),
        "temperature must be a finite number above 0, not 0",
    ),
    "temperature NaN": (
        lambda f: edit_metadata(f, lambda m: m["calibration"].update(temperature=math.nan)),
        "not nan",
    ),
    "temperature -1": (
        lambda f: edit_metadata(f, lambda m: m["calibration"].update(temperature=-1.0)),
        "not -1.0",
    ),
    "bogus tta": (
        lambda f: edit_metadata(f, lambda m: m["calibration"].update(tta="sideways")),
        "tta must be one of none, flip, ten_crop, not 'sideways'",
    ),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_packaged_model_is_refused_in_one_line_naming_its_file(packaged_copy, damage):
    make, reason = DAMAGE[damage]
    make(packaged_copy)
    result = CliRunner().invoke(app, ["predict", str(packaged_copy.parents[1] / "face.png")])
    assert result.exit_code == 1, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert result.output.startswith(f"error: {packaged_copy}/") and reason in result.output, result.output


def test_the_packaged_model_as_shipped_passes_every_check(packaged_copy):
    for family in ("fer2013", "ferplus"):
        model, meta = ferpipe.packaged.load(family)
        answers = model.predict_on_batch(random_faces(2).reshape(-1, 48, 48, 1))
        assert answers.shape == (2, len(meta["label_names"])) and np.allclose(answers.sum(axis=1), 1)


@pytest.mark.parametrize(
    "arguments, reason",
    [
        (["--plot", "{tmp}"], "--plot {tmp}: is a folder; name a .png file"),
        (["--plot", "{tmp}/timeline.pdf"], "--plot {tmp}/timeline.pdf: name a .png file"),
        (["--annotate", "{tmp}/face.png"], "--annotate {tmp}/face.png: not a folder"),
        (["--annotate", "{tmp}/face.png/drawn"], "--annotate {tmp}/face.png/drawn: cannot be written here"),
        (["-o", "{tmp}/face.png/out.csv"], "--output {tmp}/face.png/out.csv: cannot be written here"),
    ],
)
def test_a_destination_that_cannot_be_written_is_refused_before_any_work(packaged_copy, arguments, reason):
    tmp = packaged_copy.parents[1]
    result = CliRunner().invoke(app, ["predict", str(tmp / "face.png"), *[a.format(tmp=tmp) for a in arguments]])
    assert result.exit_code == 1 and result.output.startswith(f"error: {reason.format(tmp=tmp)}"), result.output
    assert len(result.output.splitlines()) == 1, result.output  # and no note of a model loaded: refused first


def test_serving_a_damaged_packaged_model_names_the_file_not_none(packaged_copy):
    (packaged_copy / "metadata.json").unlink()
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 1 and len(result.output.splitlines()) == 1, result.output
    assert result.output.startswith(
        f"error: cannot load model (the packaged fer2013 model): {packaged_copy}/metadata.json"
    )


def test_explain_refuses_a_destination_that_is_a_file_before_loading_anything(tmp_path):
    Image.fromarray(random_faces(1).reshape(48, 48)).save(tmp_path / "face.png")
    for destination, reason in (
        (tmp_path / "face.png", "not a folder"),
        (tmp_path / "face.png" / "maps", "cannot be written here"),
    ):
        result = CliRunner().invoke(
            app, ["explain", "no-such.keras", str(tmp_path / "face.png"), "-o", str(destination)]
        )
        assert result.exit_code == 1 and result.output.startswith(f"error: --output {destination}: {reason}"), (
            result.output
        )
        assert len(result.output.splitlines()) == 1
