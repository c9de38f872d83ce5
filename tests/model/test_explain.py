"""`ferpipe explain` on a Keras network: a Grad-CAM heatmap per face of the inputs `ferpipe predict` reads."""

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from ferpipe.cli import app
from ferpipe.models import build_model
from ferpipe.tools.explain import CAPTION, SHOWN_SIDE
from tests.conftest import fer_csv_text, random_faces

pytestmark = pytest.mark.slow  # a TensorFlow model


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.keras"
    build_model("tiny_cnn").save(path)
    return path


def test_every_face_gets_its_heatmap_named_by_input_face_and_class(tmp_path, model_file):
    faces = random_faces(3, seed=4)
    Image.fromarray(faces[0].reshape(48, 48)).save(tmp_path / "crop.png")
    (tmp_path / "faces.csv").write_text(fer_csv_text([0, 1], ["PrivateTest"] * 2, faces[1:]))
    (tmp_path / "broken.png").write_bytes(b"nope")
    inputs = [str(tmp_path / name) for name in ("crop.png", "faces.csv", "broken.png")]
    result = CliRunner().invoke(app, ["explain", str(model_file), *inputs, "-o", str(tmp_path / "maps")])
    assert result.exit_code == 3, result.output  # some inputs failed, the rest explained
    assert "explained 3 face(s) from 2 input(s); 1 input(s) failed" in result.output
    written = sorted(path.name for path in (tmp_path / "maps").iterdir())
    assert [name.rsplit(".", 2)[0] for name in written] == ["crop.png.face0", "faces.csv.face0", "faces.csv.face1"]
    picture = np.asarray(Image.open(tmp_path / "maps" / written[0]))
    assert picture.shape == (SHOWN_SIDE + CAPTION, 2 * SHOWN_SIDE, 3) and picture.std() > 0

    asked = CliRunner().invoke(
        app, ["explain", str(model_file), inputs[0], "-o", str(tmp_path / "angry"), "--class", "angry"]
    )
    assert asked.exit_code == 0 and [p.name for p in (tmp_path / "angry").iterdir()] == ["crop.png.face0.angry.png"]
    unknown = CliRunner().invoke(
        app, ["explain", str(model_file), inputs[0], "-o", str(tmp_path / "x"), "--class", "bored"]
    )
    assert unknown.exit_code == 1 and unknown.output.startswith("error: --class bored: not one of the model's classes")
