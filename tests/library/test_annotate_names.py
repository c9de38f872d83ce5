"""`--annotate DIR` and `--plot FILE`: every input keeps its own picture, nothing already in the folder is
overwritten, and the plot keeps its legend off its lines."""

from pathlib import Path

from PIL import Image
from typer.testing import CliRunner

from ferpipe.cli import app
from tests.conftest import random_faces


def test_two_inputs_of_one_name_keep_their_own_pictures_and_the_folder_keeps_its_files(tmp_path):
    faces = random_faces(2, seed=3).reshape(-1, 48, 48)
    for folder, face in zip(("a", "b"), faces, strict=True):
        (tmp_path / folder).mkdir()
        Image.fromarray(face).save(tmp_path / folder / "x.png")
    drawn = tmp_path / "drawn"
    drawn.mkdir()
    (drawn / "x.png").write_bytes(b"a picture the user made")
    result = CliRunner().invoke(
        app,
        ["predict", str(tmp_path / "a"), str(tmp_path / "b"), "--annotate", str(drawn), "-o", str(tmp_path / "o.csv")],
    )
    assert result.exit_code == 0, result.output
    assert (drawn / "x.png").read_bytes() == b"a picture the user made"
    assert sorted(p.name for p in drawn.iterdir()) == ["x-2.png", "x-3.png", "x.png"]
    # Each picture is its own input's face, drawn large: the two differ.
    pictures = [Image.open(drawn / name).convert("L").resize((48, 48)) for name in ("x-2.png", "x-3.png")]
    assert pictures[0].tobytes() != pictures[1].tobytes()
    assert f"{tmp_path / 'a' / 'x.png'}: note: drawn as x-2.png: x.png was already in {drawn}" in result.output


def test_a_picture_is_named_after_its_input_without_a_second_extension(tmp_path):
    Image.fromarray(random_faces(1).reshape(48, 48)).save(tmp_path / "astronaut.png")
    result = CliRunner().invoke(
        app,
        [
            "predict",
            str(tmp_path / "astronaut.png"),
            "--annotate",
            str(tmp_path / "drawn"),
            "-o",
            str(tmp_path / "o.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "drawn").iterdir()] == ["astronaut.png"]
    assert not list(Path(tmp_path).glob("**/*.png.png"))


def test_a_plot_that_fails_while_saving_keeps_the_file_the_user_named(tmp_path, monkeypatch):
    import numpy as np
    import pytest

    from ferpipe.core.schema import EMOTIONS
    from ferpipe.tools.inputs import Face
    from ferpipe.tools.timeline import timeline_png

    frames = [(Face("clip.mp4", i, None, i / 2), np.full(7, 1 / 7)) for i in range(4)]
    target = tmp_path / "over_time.png"
    target.write_bytes(b"an earlier plot")

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", disk_full)
    with pytest.raises(OSError):
        timeline_png(frames, EMOTIONS, target)
    assert target.read_bytes() == b"an earlier plot" and sorted(p.name for p in tmp_path.iterdir()) == ["over_time.png"]
    monkeypatch.undo()
    assert timeline_png(frames, EMOTIONS, target) and Image.open(target).size == (900, 300)


def test_the_plot_legend_sits_beside_the_lines_never_over_them(tmp_path):
    import numpy as np

    from ferpipe.core.schema import EMOTIONS
    from ferpipe.tools import timeline
    from ferpipe.tools.inputs import Face

    # Happy rises to 1 at the top right, where a legend inside the axes would sit.
    frames = [(Face("clip.mp4", i, None, i / 2), np.eye(7)[3] * i / 9 + (1 - i / 9) / 7) for i in range(10)]
    assert timeline.timeline_png(frames, EMOTIONS, tmp_path / "t.png")
    picture = np.asarray(Image.open(tmp_path / "t.png").convert("RGB"))
    right, bottom = timeline.WIDTH - timeline.RIGHT, timeline.PANEL_HEIGHT - timeline.BOTTOM
    inside = picture[timeline.TOP + 1 : bottom, timeline.LEFT + 1 : right]
    drawn = {tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in (*timeline.COLOURS, "#ffffff", "#e6e6e6")}
    assert {tuple(pixel) for pixel in inside.reshape(-1, 3)} <= drawn  # lines and grid only: no text
    legend = picture[timeline.TOP :, right + 1 :]
    assert (legend.min(axis=2) < 100).any()  # the names, in black, beside the axes
