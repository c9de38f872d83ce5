"""Heatmaps without gradients: occlusion sensitivity finds what decides a class, and `ferpipe explain`
draws it for the packaged model in the light install."""

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from ferpipe.cli import app
from ferpipe.core.heatmaps import occlusion, overlay
from ferpipe.tools.explain import CAPTION, SHOWN_SIDE
from tests.conftest import grace_hopper, random_faces


def test_the_map_is_hottest_where_covering_the_face_lowers_the_class():
    face = np.full((48, 48), 60, np.uint8)
    face[30:40, 8:18] = 255  # a bright patch: what "class 1" looks at

    def predict(faces: np.ndarray) -> np.ndarray:  # class 1's probability: the patch's brightness
        bright = faces[:, 30:40, 8:18, 0].mean(axis=(1, 2)) / 255
        return np.stack([1 - bright, bright], axis=1)

    heat = occlusion(predict, face, 1)
    assert heat.shape == (48, 48) and heat.max() == 1 and heat.min() == 0
    y, x = np.unravel_index(heat.argmax(), heat.shape)
    assert 26 <= y <= 43 and 4 <= x <= 21  # on the patch
    assert heat[:20].max() == 0  # covering what the class ignores changes nothing
    drawn = overlay(face, heat)
    assert drawn.shape == (48, 48, 3) and drawn[35, 12, 0] > drawn[35, 12, 2]  # red where hot
    assert drawn[5, 40, 2] > drawn[5, 40, 0]  # blue where cold


def test_explain_draws_the_packaged_model_s_map_without_a_model_named(tmp_path):
    Image.fromarray(random_faces(1, seed=3).reshape(48, 48)).save(tmp_path / "crop.png")
    inputs = [str(tmp_path / "crop.png"), str(grace_hopper())]
    result = CliRunner().invoke(app, ["explain", *inputs, "-o", str(tmp_path / "maps")])
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in (tmp_path / "maps").iterdir())
    assert (
        len(written) == 2
        and written[0].startswith("crop.png.face0.")
        and written[1].startswith("grace_hopper.jpg.face0.")
    )
    picture = np.asarray(Image.open(tmp_path / "maps" / written[1]).convert("RGB")).astype(int)
    assert picture.shape == (SHOWN_SIDE + CAPTION, 2 * SHOWN_SIDE, 3)
    face, mapped = picture[:SHOWN_SIDE, :SHOWN_SIDE], picture[:SHOWN_SIDE, SHOWN_SIDE:]
    assert (
        np.abs(face[..., 0] - face[..., 2]).mean() < 2 < np.abs(mapped[..., 0] - mapped[..., 2]).mean()
    )  # grey, then coloured
    assert (picture[SHOWN_SIDE:] < 128).any()  # the caption is written
