"""The Python API a pip user calls: `Recognizer().predict(image)`, answering as `ferpipe predict` does."""

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from ferpipe import Expression, Recognizer, packaged
from ferpipe.cli import app
from ferpipe.core.schema import EMOTIONS, FERPLUS_CLASSES, VOCABULARY
from tests.conftest import grace_hopper, random_faces


@pytest.fixture(scope="module")
def photo() -> Path:
    return grace_hopper()


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    return Recognizer()


def test_a_path_a_pil_image_and_numpy_arrays_get_the_same_answer(recognizer, photo):
    rgb = np.asarray(Image.open(photo).convert("RGB"))
    answers = [recognizer.predict(photo), recognizer.predict(str(photo)), recognizer.predict(Image.open(photo))]
    answers.append(recognizer.predict(rgb))
    (face,) = answers[0]
    assert isinstance(face, Expression) and face.box is not None and 0.5 <= face.score <= 1
    assert list(face.probabilities) == list(EMOTIONS) and face.emotion == max(
        face.probabilities, key=face.probabilities.get
    )
    assert sum(face.probabilities.values()) == pytest.approx(1.0)
    for other in answers[1:]:
        assert [(f.box, f.score) for f in other] == [(face.box, face.score)]
        assert other[0].probabilities == pytest.approx(face.probabilities, abs=1e-6)
    grey = Image.open(photo).convert("L")  # a grey picture: the same as its pixels, whichever way it comes
    (as_image,), (as_array,) = recognizer.predict(grey), recognizer.predict(np.asarray(grey))
    assert as_array.box == as_image.box and as_array.probabilities == pytest.approx(as_image.probabilities, abs=1e-6)


def test_the_api_answers_what_ferpipe_predict_writes(recognizer, photo, tmp_path):
    crop = tmp_path / "crop.png"
    Image.fromarray(random_faces(1, seed=8).reshape(48, 48)).save(crop)
    result = CliRunner().invoke(app, ["predict", str(photo), str(crop), "-o", str(tmp_path / "out.csv")])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out.csv").read_text())))
    for row, image in zip(rows, (photo, crop), strict=True):
        (face,) = recognizer.predict(image)
        assert row["emotion"] == face.emotion
        assert [float(row[n]) for n in EMOTIONS] == pytest.approx(list(face.probabilities.values()), abs=1e-6)
        box = tuple(int(row[k]) for k in ("x", "y", "width", "height")) if row["x"] else None
        assert box == face.box


def test_crops_in_a_batch_answer_as_one_by_one_and_raw_keeps_the_class(recognizer):
    crops = random_faces(5, seed=3).reshape(5, 48, 48)
    batch = recognizer.predict_crops(crops)
    assert [f.probabilities for f in batch] == [recognizer.predict(c)[0].probabilities for c in crops]
    assert recognizer.predict_crops(crops[..., None]) == batch
    raw = Recognizer(raw=True).predict_crops(crops)
    assert [f.emotion for f in raw] == [f.emotion for f in batch]  # a temperature never changes the class
    assert any(r.probabilities != pytest.approx(b.probabilities) for r, b in zip(raw, batch, strict=True))
    with pytest.raises(ValueError, match=r"expected uint8 face crops of shape \(N, 48, 48\), got float64"):
        recognizer.predict_crops(crops.astype(float))


def test_an_image_with_no_face_has_no_answer_and_a_wrong_array_is_refused(recognizer):
    assert recognizer.predict(np.full((200, 300, 3), 128, np.uint8)) == []
    with pytest.raises(ValueError, match="expected a uint8 image, grey HxW or RGB HxWx3"):
        recognizer.predict(np.zeros((48, 48, 2), np.uint8))


def test_both_packaged_models_answer_in_one_vocabulary_and_order(recognizer):
    crops = random_faces(4, seed=6).reshape(4, 48, 48)
    ferplus = Recognizer(labels="ferplus")
    assert ferplus.label_names == VOCABULARY == (*EMOTIONS, "contempt")
    network, meta = packaged.load("ferplus")
    assert tuple(meta["label_names"]) == FERPLUS_CLASSES  # the model's own record keeps its training order
    own = network.predict_on_batch(crops[..., None])
    for face, row in zip(ferplus.predict_crops(crops), own, strict=True):
        assert face.probabilities["happy"] == pytest.approx(row[FERPLUS_CLASSES.index("happiness")])
        assert face.probabilities["contempt"] == pytest.approx(row[FERPLUS_CLASSES.index("contempt")])
    assert list(recognizer.predict_crops(crops)[0].probabilities) == list(VOCABULARY[:7])


def test_a_model_file_is_a_recognizer_too(tmp_path):
    import shutil

    shutil.copyfile(packaged.packaged().folder / "model.tflite", tmp_path / "net.tflite")
    crops = random_faces(2, seed=1).reshape(2, 48, 48)
    bare = Recognizer(tmp_path / "net.tflite").predict_crops(crops)
    raw = Recognizer(raw=True).predict_crops(crops)
    for mine, packaged_raw in zip(bare, raw, strict=True):
        assert mine.probabilities == pytest.approx(packaged_raw.probabilities, abs=1e-6)
