"""`ferpipe predict` on videos: frames sampled at --fps, one row per face per sampled frame with its
time, answering exactly as the same frames do as images; a truncated video keeps what came before."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from ferpipe.cli import app
from tests.conftest import grace_hopper

pytestmark = pytest.mark.slow  # videos written and read with OpenCV, a model run

RATE, SECONDS = 10, 3  # frames a second, and the video's length


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """A 640x480 MJPG video of a real face that changes every second (a portrait, mirrored, then
    tilted), each second's picture on a grey canvas; its first frame also as a photo."""
    import cv2

    folder = tmp_path_factory.mktemp("video")
    portrait = Image.open(grace_hopper()).convert("RGB").resize((240, 281), Image.Resampling.BICUBIC)
    seconds = [portrait, portrait.transpose(Image.Transpose.FLIP_LEFT_RIGHT), portrait.rotate(12, fillcolor=(120,) * 3)]
    path = folder / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), RATE, (640, 480))
    for frame in range(RATE * SECONDS):
        canvas = Image.new("RGB", (640, 480), (120, 120, 120))
        canvas.paste(seconds[frame // RATE], (200, 100))
        writer.write(cv2.cvtColor(np.asarray(canvas), cv2.COLOR_RGB2BGR))
        if frame == 0:  # the first frame also as a photo
            canvas.save(folder / "first.png")
    writer.release()
    return path


def predicted(*arguments) -> tuple[int, list[dict], str]:
    result = CliRunner().invoke(app, ["predict", *map(str, arguments[:-1]), "-o", str(arguments[-1])])
    rows = json.loads(Path(arguments[-1]).read_text())["predictions"] if Path(arguments[-1]).exists() else []
    return result.exit_code, rows, result.output


def test_sampled_frames_answer_as_the_same_frames_do_as_images(video, tmp_path):
    import cv2

    code, rows, output = predicted(video, "--fps", "2", tmp_path / "video.json")
    assert code == 0, output
    times = sorted({row["time"] for row in rows})
    assert times and set(times) <= {0.0, 0.5, 1.0, 1.5, 2.0, 2.5} and len(times) >= 5
    assert "6 frame(s) sampled at 2 a second" in output
    capture = cv2.VideoCapture(str(video))  # the same frames, decoded and kept losslessly as images
    frames = []
    for number in range(RATE * SECONDS):
        ok, image = capture.read()
        if ok and number % (RATE // 2) == 0:
            frames.append(tmp_path / f"frame_{number:03d}.png")
            Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)).save(frames[-1])
    code, images, output = predicted(*frames, tmp_path / "frames.json")
    by_time = {row["time"]: row for row in rows}
    assert len(by_time) == len(rows) > 1 and {row["face"] for row in rows} == {0}  # numbered within each frame
    by_frame = {int(Path(row["source"]).stem.split("_")[1]) / RATE: row for row in images}
    assert set(by_time) == set(by_frame)
    for moment, row in by_time.items():
        image_row = by_frame[moment]
        assert (row["x"], row["y"], row["emotion"]) == (image_row["x"], image_row["y"], image_row["emotion"])
        assert row["score"] == pytest.approx(image_row["score"], abs=1e-4)
        names = [k for k in row if k not in ("source", "face", "time", "x", "y", "width", "height", "score", "emotion")]
        np.testing.assert_allclose([row[n] for n in names], [image_row[n] for n in names], atol=1e-6)


def test_a_truncated_video_says_when_it_stopped_and_keeps_the_rows_before(video, tmp_path):
    whole = video.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(whole[: len(whole) // 2])
    code, rows, output = predicted(cut, tmp_path / "cut.json")
    assert code == 3, output  # some rows, and a failure
    assert "truncated: no frame could be read after" in output and f"of {SECONDS:.2f} s" in output
    assert rows and max(row["time"] for row in rows) < SECONDS * 0.75


def test_a_file_that_is_no_video_is_one_failure(tmp_path):
    (tmp_path / "not.mp4").write_bytes(b"no video here")
    code, rows, output = predicted(tmp_path / "not.mp4", tmp_path / "none.json")
    assert code == 1 and "not.mp4: not a video" in output and rows == []


def test_annotated_pictures_have_a_box_where_each_face_is(video, tmp_path):
    first = video.parent / "first.png"  # the video's first frame as a photo
    code, rows, output = predicted(first, video, "--fps", "1", "--annotate", tmp_path / "drawn", tmp_path / "out.json")
    assert code == 0, output
    written = sorted(path.name for path in (tmp_path / "drawn").iterdir())
    assert written == ["clip.t0.00.png", "clip.t1.00.png", "clip.t2.00.png", "first.png"]
    (photo_row,) = [row for row in rows if row["source"].endswith("first.png")]
    drawn = np.asarray(Image.open(tmp_path / "drawn" / "first.png").convert("RGB")).astype(int)
    x, y, w, h = (photo_row[key] for key in ("x", "y", "width", "height"))
    orange = np.array([255, 64, 0])
    for column, row in ((x, y + h // 2), (x + w - 1, y + h // 2), (x + w // 2, y + h - 1)):  # left, right, bottom edges
        assert np.abs(drawn[row, column] - orange).max() <= 2, (column, row, drawn[row, column])
    assert np.abs(drawn[y + h // 2, x + w // 2] - orange).max() > 30  # the face itself is not painted over


def test_the_plot_draws_the_expressions_over_time(video, tmp_path):
    code, rows, output = predicted(video, "--plot", tmp_path / "over_time.png", tmp_path / "out.json")
    assert code == 0, output
    picture = np.asarray(Image.open(tmp_path / "over_time.png").convert("L"))
    assert picture.shape[1] == 900 and picture.std() > 10  # a figure, not a blank
    code, _, output = predicted(video.parent / "first.png", "--plot", tmp_path / "none.png", tmp_path / "photo.json")
    assert code == 0 and "none.png: note: not drawn: no face in a sampled video frame" in output
    assert not (tmp_path / "none.png").exists()


def test_a_video_frame_predict_and_the_api_see_the_same_faces(video, tmp_path):
    from ferpipe import Recognizer

    code, rows, output = predicted(video, video.parent / "first.png", "--fps", "1", tmp_path / "both.json")
    assert code == 0, output
    (frame,) = [row for row in rows if row["time"] == 0.0]
    (photo,) = [row for row in rows if row["source"].endswith("first.png")]
    (face,) = Recognizer().predict(video.parent / "first.png")
    assert (photo["x"], photo["y"], photo["width"], photo["height"]) == face.box  # the same picture: the same answer
    assert photo["score"] == pytest.approx(face.score, abs=1e-4) and photo["emotion"] == face.emotion
    assert [photo[name] for name in face.probabilities] == pytest.approx(list(face.probabilities.values()), abs=1e-5)
    # The video's frame is the same picture through MJPG's compression: the same face, found alike.
    assert np.abs(np.subtract([frame[k] for k in ("x", "y", "width", "height")], face.box)).max() <= 3
    assert frame["score"] == pytest.approx(face.score, abs=0.03) and frame["emotion"] == face.emotion
