"""`ferpipe predict` on people's own inputs: crops, photos, folders, CSVs, and bad files."""

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from ferpipe.cli import app
from ferpipe.models import build_model
from ferpipe.tools.models import load_model
from ferpipe.tools.predict import predict
from tests.conftest import fer_csv_text, random_faces, require_real_data

pytestmark = pytest.mark.slow  # TensorFlow models, trained or served


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.keras"
    build_model("tiny_cnn").save(path)
    return path


@pytest.fixture(scope="module")
def model(model_file):
    import keras

    return keras.saving.load_model(model_file)


def test_face_crops_of_any_colour_are_predicted_as_they_are(tmp_path, model):
    faces = random_faces(2, seed=3).reshape(2, 48, 48)
    Image.fromarray(faces[0]).save(tmp_path / "grey.png")
    Image.fromarray(np.stack([faces[1]] * 3, axis=-1)).save(tmp_path / "colour.png")
    results = predict(model, [tmp_path / "grey.png", tmp_path / "colour.png"])
    assert results.failures == []
    assert [f.box for f in results.faces] == [None, None]
    expected = model.predict(faces[..., None].astype("float32"), verbose=0)
    np.testing.assert_allclose(results.probabilities, expected, rtol=1e-5)


def test_one_bad_file_in_a_folder_does_not_stop_the_rest(tmp_path, model):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(random_faces(1).reshape(48, 48)).save(folder / "a_face.png")
    (folder / "b_corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    whole = (folder / "a_face.png").read_bytes()
    (folder / "c_truncated.png").write_bytes(whole[: len(whole) // 2])
    gradient = np.tile(np.linspace(0, 255, 400, dtype=np.uint8), (300, 1))
    Image.fromarray(gradient).save(folder / "d_landscape.jpg")
    (folder / "notes.txt").write_text("ignored: not an image")
    results = predict(model, [folder])
    assert [Path(f.source).name for f in results.faces] == ["a_face.png"]
    reasons = {Path(source).name: reason for source, reason in results.failures}
    assert reasons["b_corrupt.jpg"].startswith(("not an image", "unreadable"))
    assert reasons["c_truncated.png"].startswith("unreadable")
    assert reasons["d_landscape.jpg"].startswith("no face")
    assert "notes.txt" not in reasons
    assert "1 face(s)" in results.summary() and "3 input(s) failed" in results.summary()


def test_decompression_bombs_are_refused(tmp_path, model):
    Image.new("L", (8000, 6000)).save(tmp_path / "bomb.png")  # 48M pixels, a few kB on disk
    results = predict(model, [tmp_path / "bomb.png"])
    assert results.faces == []
    assert results.failures[0][1].startswith("too large")


def test_fer_csv_rows_are_predicted_and_bad_rows_named(tmp_path, model):
    labels, usages, faces = [0, 3, 6], ["Training"] * 3, random_faces(3)
    lines = fer_csv_text(labels, usages, faces).splitlines()
    lines[2] = "3,1 2 3,Training"
    (tmp_path / "faces.csv").write_text("\n".join(lines) + "\n")
    results = predict(model, [tmp_path / "faces.csv"])
    assert [f.index for f in results.faces] == [0, 2]
    assert results.failures == [
        (f"{tmp_path / 'faces.csv'}:line 3", "bad row: pixels: 3 values, expected 2304 (48x48)")
    ]


def test_cli_writes_json_and_fails_when_nothing_could_be_predicted(tmp_path, model_file):
    Image.fromarray(random_faces(1).reshape(48, 48)).save(tmp_path / "face.png")
    runner = CliRunner()
    result = runner.invoke(
        app, ["predict", str(model_file), str(tmp_path / "face.png"), "-o", str(tmp_path / "out.json")]
    )
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "out.json").read_text())
    (row,) = written["predictions"]
    assert row["emotion"] in ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert sum(
        row[name] for name in ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    ) == pytest.approx(1, abs=1e-4)

    (tmp_path / "broken.png").write_bytes(b"nope")
    result = runner.invoke(app, ["predict", str(model_file), str(tmp_path / "broken.png")])
    assert result.exit_code == 1
    assert "broken.png: not an image" in result.output


def test_faces_in_larger_photos_are_detected_with_their_box(tmp_path, model):
    import pyarrow.csv as pacsv

    source = require_real_data()
    with gzip.open(source) as stream:
        first_rows = pacsv.read_csv(stream, read_options=pacsv.ReadOptions(block_size=1 << 20)).slice(0, 20)
    for i, text in enumerate(first_rows["pixels"].to_pylist()):
        face = np.array(text.split(), dtype=np.uint8).reshape(48, 48)
        photo = np.full((360, 480), 120, np.uint8)
        photo[80:224, 150:294] = np.asarray(Image.fromarray(face).resize((144, 144), Image.BICUBIC))
        Image.fromarray(photo).save(tmp_path / f"photo_{i:02d}.jpg", quality=95)
    results = predict(model, [tmp_path])
    found = {Path(face.source).name for face in results.faces}
    # The Haar cascade finds about 3 in 4 tightly cropped FER2013 faces; far fewer would be a regression.
    assert len(found) >= 12, results.summary()
    for face in results.faces:
        x, y, w, h = face.box
        assert 150 <= x + w / 2 <= 294 and 80 <= y + h / 2 <= 224  # on the placed face
    assert all(reason.startswith("no face") for _, reason in results.failures)


def test_an_eight_class_model_answers_in_the_vocabulary(tmp_path):
    import io

    from ferpipe.tools.models import InVocabulary, default_label_names
    from ferpipe.tools.predict import write

    Image.fromarray(random_faces(1, seed=4).reshape(48, 48)).save(tmp_path / "face.png")
    network = build_model("tiny_cnn", (48, 48, 1), 8)  # unrecorded: taken as FER+'s classes, in FER+'s order
    model = InVocabulary(network, default_label_names(8))
    results = predict(model, [tmp_path / "face.png"], label_names=model.names)
    written = io.StringIO()
    write(results, written)
    header, row = written.getvalue().splitlines()
    assert header.endswith("emotion,angry,disgust,fear,happy,sad,surprise,neutral,contempt")
    own = network.predict_on_batch(np.asarray(Image.open(tmp_path / "face.png"))[None, ..., None])[0]
    cells = dict(zip(header.split(","), row.split(","), strict=True))
    assert float(cells["happy"]) == pytest.approx(own[1], abs=1e-6)  # FER+'s happiness, its second output
    assert cells["emotion"] in header.split(",")[8:] and cells["time"] == ""  # not a video frame


def test_images_of_every_bit_depth_are_scaled_not_clipped(tmp_path, model):
    from ferpipe.core.images import load_grey_image

    face = random_faces(1, seed=7).reshape(48, 48)
    wide = face.astype(np.uint16) * 257  # the same face at 16 bits
    Image.fromarray(wide).save(tmp_path / "face16.png")
    Image.fromarray(face).save(tmp_path / "face8.png")
    np.testing.assert_array_equal(load_grey_image(tmp_path / "face16.png"), face)
    np.testing.assert_array_equal(load_grey_image(tmp_path / "face8.png"), face)
    Image.fromarray(face.astype(np.float32) / 255).save(tmp_path / "face.tiff")
    results = predict(model, [tmp_path / "face.tiff"])
    assert results.failures == [
        (
            str(tmp_path / "face.tiff"),
            "unsupported: F (floating-point) pixels have no known scale; save the face as an 8- or 16-bit image",
        )
    ]


def test_an_animated_gif_says_it_used_the_first_frame(tmp_path, model):
    frames = [Image.fromarray(random_faces(1, seed=s).reshape(48, 48)) for s in range(3)]
    frames[0].save(tmp_path / "moving.gif", save_all=True, append_images=frames[1:])
    results = predict(model, [tmp_path / "moving.gif"])
    assert len(results.faces) == 1 and results.notes == [(str(tmp_path / "moving.gif"), "3 frames: the first was used")]


def test_cli_exit_status_says_all_some_or_none_and_arguments_are_checked_first(tmp_path, model_file):
    Image.fromarray(random_faces(1).reshape(48, 48)).save(tmp_path / "face.png")
    (tmp_path / "broken.png").write_bytes(b"nope")
    runner = CliRunner()
    some = runner.invoke(app, ["predict", str(model_file), str(tmp_path / "face.png"), str(tmp_path / "broken.png")])
    assert some.exit_code == 3 and "1 input(s) failed" in some.output
    zero = runner.invoke(app, ["predict", str(model_file), str(tmp_path / "face.png"), "--batch-size", "0"])
    assert zero.exit_code == 2 and "batch-size" in zero.output
    # Both refused before the model is even looked for, not after every prediction is made.
    under_a_file = runner.invoke(
        app,
        ["predict", "no-such-model.keras", str(tmp_path / "face.png"), "-o", str(tmp_path / "face.png" / "out.csv")],
    )
    assert under_a_file.exit_code == 1 and "cannot be written here" in under_a_file.output
    folder = runner.invoke(app, ["predict", "no-such-model.keras", str(tmp_path / "face.png"), "-o", str(tmp_path)])
    assert folder.exit_code == 1 and "is a folder" in folder.output
    # A folder that permissions call writable but that holds no files (/proc): one line, not a traceback.
    in_proc = runner.invoke(app, ["predict", str(model_file), str(tmp_path / "face.png"), "-o", "/proc/nope/out.csv"])
    assert in_proc.exit_code == 1 and in_proc.output == (
        "error: --output /proc/nope/out.csv: cannot be written here (/proc is not a writable folder)\n"
    )


def lambda_model(path: Path) -> Path:
    """A model Keras will not load in safe mode: a Lambda layer is arbitrary code."""
    import keras

    keras.Sequential(
        [
            keras.Input((48, 48, 1)),
            keras.layers.Lambda(lambda x: x / 255.0),
            keras.layers.Flatten(),
            keras.layers.Dense(7, activation="softmax"),
        ]
    ).save(path)
    return path


def test_a_keras_model_that_is_not_a_face_model_is_refused_in_one_line_naming_it(tmp_path):
    import keras

    Image.fromarray(random_faces(1).reshape(48, 48)).save(tmp_path / "face.png")
    keras.Sequential([keras.Input((64, 64, 3)), keras.layers.Flatten(), keras.layers.Dense(7)]).save(
        tmp_path / "rgb.keras"
    )
    lambda_model(tmp_path / "lambda.keras")
    runner = CliRunner()
    for name, reason in [
        ("rgb.keras", "takes inputs of shape [None, 64, 64, 3], not batches of 48x48 grey faces"),
        ("lambda.keras", "cannot be loaded as a Keras model"),
    ]:
        result = runner.invoke(app, ["predict", str(tmp_path / name), str(tmp_path / "face.png")])
        assert result.exit_code == 1 and f"{tmp_path / name}: {reason}" in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output


def test_cli_output_appears_whole_or_not_at_all(tmp_path, model_file):
    Image.fromarray(random_faces(1).reshape(48, 48)).save(tmp_path / "face.png")
    (tmp_path / "broken.png").write_bytes(b"nope")
    out = tmp_path / "out.json"
    out.write_text("the user's earlier predictions")
    runner = CliRunner()
    none = runner.invoke(app, ["predict", str(model_file), str(tmp_path / "broken.png"), "-o", str(out)])
    assert none.exit_code == 1 and out.read_text() == "the user's earlier predictions"  # kept, not emptied
    some = runner.invoke(
        app, ["predict", str(model_file), str(tmp_path / "face.png"), str(tmp_path / "broken.png"), "-o", str(out)]
    )
    assert some.exit_code == 3
    written = json.loads(out.read_text())
    assert [row["source"] for row in written["predictions"]] == [str(tmp_path / "face.png")]
    assert written["failures"] == [
        {"source": str(tmp_path / "broken.png"), "reason": "not an image: unrecognised format"}
    ]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging left behind


def test_a_large_csv_streams_through_the_model_in_order(tmp_path, model):
    faces = random_faces(700, seed=9)
    (tmp_path / "faces.csv").write_text(fer_csv_text([0] * 700, ["PrivateTest"] * 700, faces))
    results = predict(model, [tmp_path / "faces.csv"], batch_size=64)
    assert [f.index for f in results.faces] == list(range(700))
    expected = model.predict(faces.reshape(-1, 48, 48, 1), batch_size=256, verbose=0)
    np.testing.assert_allclose(results.probabilities, expected, rtol=1e-5, atol=1e-7)


def test_predicting_with_a_keras_file_starts_without_mlflow(tmp_path, model_file):
    import subprocess
    import sys

    Image.fromarray(random_faces(1).reshape(48, 48)).save(tmp_path / "face.png")
    script = (
        "import sys; from typer.testing import CliRunner; from ferpipe.cli import app; "
        f"result = CliRunner().invoke(app, ['predict', {str(model_file)!r}, {str(tmp_path / 'face.png')!r}]); "
        "print(result.exit_code, 'mlflow' in sys.modules)"
    )
    shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert shown.stdout.split()[-2:] == ["0", "False"], shown.stdout + shown.stderr
    assert "cuda" not in shown.stderr.lower() and "absl" not in shown.stderr  # TensorFlow's start-up lines muted


def test_the_litert_export_predicts_as_the_keras_file_does_without_loading_tensorflow(tmp_path, model_file, model):
    import subprocess
    import sys

    import pandas as pd

    lite_file = tmp_path / "model.tflite"
    model.export(str(lite_file), format="litert", verbose=False)  # as the train stage exports it
    faces = random_faces(70, seed=2)  # more than one batch, the last one short
    (tmp_path / "faces.csv").write_text(fer_csv_text([0] * 70, ["PrivateTest"] * 70, faces))
    script = (
        "import sys; from typer.testing import CliRunner; from ferpipe.cli import app; "
        f"result = CliRunner().invoke(app, ['predict', {str(lite_file)!r}, {str(tmp_path / 'faces.csv')!r}, "
        f"'-o', {str(tmp_path / 'lite.csv')!r}]); "
        "print(result.exit_code, any(m in sys.modules for m in ('tensorflow', 'keras', 'mlflow')))"
    )
    shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert shown.stdout.split()[-2:] == ["0", "False"], shown.stdout + shown.stderr
    assert shown.stderr == ""  # not even LiteRT's "INFO: Created TensorFlow Lite XNNPACK delegate"
    keras_run = CliRunner().invoke(
        app, ["predict", str(model_file), str(tmp_path / "faces.csv"), "-o", str(tmp_path / "keras.csv")]
    )
    assert keras_run.exit_code == 0, keras_run.output
    by_lite, by_keras = pd.read_csv(tmp_path / "lite.csv"), pd.read_csv(tmp_path / "keras.csv")
    assert len(by_lite) == 70 and by_lite.columns.tolist() == by_keras.columns.tolist()
    assert (by_lite["emotion"] == by_keras["emotion"]).all()
    pd.testing.assert_frame_equal(by_lite, by_keras, check_exact=False, atol=1e-5)


def test_a_tflite_file_that_is_not_a_face_model_is_refused_in_one_line(tmp_path):
    import keras

    Image.fromarray(random_faces(1).reshape(48, 48)).save(tmp_path / "face.png")
    (tmp_path / "broken.tflite").write_bytes(b"not a model")
    keras.Sequential([keras.Input((10,)), keras.layers.Dense(3)]).export(
        str(tmp_path / "other.tflite"), format="litert", verbose=False
    )
    runner = CliRunner()
    for name, reason in [
        ("missing.tflite", "no such model file"),
        ("broken.tflite", "broken.tflite"),
        ("other.tflite", "takes inputs of shape [-1, 10], not batches of 48x48 grey faces"),
    ]:
        result = runner.invoke(app, ["predict", str(tmp_path / name), str(tmp_path / "face.png")])
        assert result.exit_code == 1 and result.output.startswith(f"error: cannot load model {tmp_path / name}")
        assert reason in result.output and len(result.output.strip().splitlines()) == 1, result.output
    with pytest.raises(ValueError, match="a LiteRT file only predicts"):  # ensembles need the Keras network
        load_model(str(tmp_path / "other.tflite"))


def test_with_no_model_named_the_packaged_one_answers_and_says_so(tmp_path):
    from ferpipe import packaged

    described = packaged.packaged().describe()
    faces = random_faces(3, seed=9)
    Image.fromarray(faces[0].reshape(48, 48)).save(tmp_path / "crop.png")
    (tmp_path / "folder").mkdir()
    Image.fromarray(faces[1].reshape(48, 48)).save(tmp_path / "folder" / "face.png")
    (tmp_path / "faces.csv").write_text(fer_csv_text([3], ["PrivateTest"], faces[2:]))
    inputs = [str(tmp_path / name) for name in ("crop.png", "folder", "faces.csv")]
    result = CliRunner().invoke(app, ["predict", *inputs, "-o", str(tmp_path / "out.json")])
    assert result.exit_code == 0, result.output
    assert f"note: predicting with {described}" in result.output
    rows = json.loads((tmp_path / "out.json").read_text())["predictions"]
    assert [Path(row["source"]).name for row in rows] == ["crop.png", "face.png", "faces.csv"]
    model, metadata = packaged.load()
    np.testing.assert_allclose(
        [[row[name] for name in metadata["label_names"]] for row in rows],
        model.predict_on_batch(faces.reshape(-1, 48, 48, 1)),
        atol=1e-6,
    )
