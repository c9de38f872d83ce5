"""Finding faces: BlazeFace's decoding (anchors, boxes, keypoints, suppression) on made-up outputs
and on a real photo, crops aligned as FER2013's faces are, and the detector choice."""

import numpy as np
import pytest
from PIL import Image

from ferpipe.detect import DetectorName, detector
from ferpipe.detect.align import FRAME_SIDE, aligned_crop, eye_angle, faces_in
from ferpipe.detect.blazeface import INPUT_SIDE, anchors, decode, weighted_suppression
from ferpipe.detect.detection import Detection
from tests.conftest import grace_hopper


def test_anchors_cover_the_input_in_the_model_s_layout():
    centres = anchors()
    assert centres.shape == (896, 2)  # 16x16 cells x 2 anchors, then 8x8 cells x 6
    np.testing.assert_allclose(centres[:2], [[0.5 / 16, 0.5 / 16]] * 2)
    np.testing.assert_allclose(centres[510:514], [[15.5 / 16, 15.5 / 16]] * 2 + [[0.5 / 8, 0.5 / 8]] * 2)
    np.testing.assert_allclose(centres[-1], [7.5 / 8, 7.5 / 8])


def test_decoding_puts_boxes_and_keypoints_relative_to_their_anchor():
    regressors = np.zeros((896, 16), np.float32)
    logits = np.full(896, -100.0, np.float32)
    anchor = 300  # a stride-16 anchor
    regressors[anchor, :4] = [8, -16, 64, 32]  # centre moved 8 px right and 16 up, 64x32 px
    regressors[anchor, 4:6] = [-10, -5]  # the first keypoint, 10 px left of the anchor and 5 up
    logits[anchor] = 2.0
    boxes, keypoints, scores = decode(regressors, logits)
    cx, cy = anchors()[anchor] + np.array([8, -16]) / INPUT_SIDE
    np.testing.assert_allclose(boxes[anchor], [cx - 32 / 256, cy - 16 / 256, cx + 32 / 256, cy + 16 / 256], atol=1e-6)
    np.testing.assert_allclose(keypoints[anchor, 0], anchors()[anchor] + np.array([-10, -5]) / 256, atol=1e-6)
    assert scores[anchor] == pytest.approx(1 / (1 + np.exp(-2.0)))
    assert np.all(scores[np.arange(896) != anchor] < 1e-30)  # clipped, never an overflow


def test_overlapping_detections_of_one_face_are_averaged_by_score_and_others_kept():
    boxes = np.array([[0.1, 0.1, 0.3, 0.3], [0.12, 0.1, 0.32, 0.3], [0.6, 0.6, 0.8, 0.8], [0.61, 0.6, 0.81, 0.8]])
    keypoints = np.repeat(boxes[:, None, :2], 6, axis=1)
    scores = np.array([0.9, 0.6, 0.7, 0.2])
    faces = weighted_suppression(boxes, keypoints, scores, min_score=0.5)
    assert [round(score, 2) for _, _, score in faces] == [0.9, 0.7]  # the best of each, the 0.2 one dropped
    np.testing.assert_allclose(faces[0][0], (0.9 * boxes[0] + 0.6 * boxes[1]) / 1.5)
    np.testing.assert_allclose(faces[1][0], boxes[2])


@pytest.fixture(scope="module")
def blazeface():
    return detector()


def test_blazeface_finds_the_face_in_a_real_photo_with_its_eyes(blazeface):
    rgb = np.asarray(Image.open(grace_hopper()).convert("RGB"))
    (face,) = blazeface(rgb)
    x, y, w, h = face.box  # by eye: her face spans about x 170-365, y 140-335 in this 512x600 portrait
    assert abs(x - 170) < 15 and abs(y - 140) < 15 and abs(w - 195) < 20 and abs(h - 195) < 20
    (left_x, left_y), (right_x, right_y) = face.eyes
    assert x < left_x < x + w / 2 < right_x < x + w and y < left_y < y + h / 2 and y < right_y < y + h / 2
    assert abs(eye_angle(face)) < 5 and face.score > 0.8
    assert blazeface(np.full((300, 400, 3), 128, np.uint8)) == []


def eyes_in_crop(crop: np.ndarray, blazeface) -> float:
    """The eye line's lean in a 48x48 crop, found again by the detector (scaled up, border repeated)."""
    import cv2

    big = cv2.copyMakeBorder(
        cv2.resize(crop, (192, 192), interpolation=cv2.INTER_CUBIC), 96, 96, 96, 96, cv2.BORDER_REPLICATE
    )
    (face,) = blazeface(big)
    return eye_angle(face)


@pytest.mark.parametrize("degrees", [-20, 20])
def test_a_tilted_face_is_cut_with_its_eyes_level(blazeface, degrees):
    photo = Image.open(grace_hopper()).convert("RGB")
    tilted = photo.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(128, 128, 128))
    (face,) = blazeface(np.asarray(tilted))
    assert eye_angle(face) == pytest.approx(-degrees, abs=4)  # PIL turns anticlockwise
    grey = np.asarray(tilted.convert("L"))
    assert abs(eyes_in_crop(aligned_crop(grey, face), blazeface)) < 4
    unaligned = aligned_crop(grey, Detection(face.box, face.score))  # the same frame, not turned
    assert eyes_in_crop(unaligned, blazeface) == pytest.approx(-degrees, abs=5)


def test_the_crop_frames_the_face_as_fer2013_does():
    canvas = np.zeros((400, 400), np.uint8)
    canvas[100:300, 100:300] = 255  # the detector's box, 200 px wide
    crop = aligned_crop(canvas, Detection((100, 100, 200, 200), 0.9, ((150.0, 180.0), (250.0, 180.0))))
    assert crop.shape == (48, 48) and crop.dtype == np.uint8
    # The frame is FRAME_SIDE box widths across: the box fills 48 / FRAME_SIDE of its 48 pixels.
    filled = (crop[24] > 127).sum()
    assert abs(filled - 48 / FRAME_SIDE) <= 2


def test_each_detector_answers_detections_left_to_right(blazeface):
    rgb = np.asarray(Image.open(grace_hopper()).convert("RGB"))
    haar = detector(DetectorName.haar)
    (found,) = haar(rgb)
    assert found.score is None and found.eyes is None
    (face, crop), *_ = faces_in(np.asarray(Image.fromarray(rgb).convert("L")), rgb, haar)
    assert crop.shape == (48, 48) and face == found
    twice = np.concatenate([rgb, rgb], axis=1)
    assert [f.box[0] for f in blazeface(twice)] == sorted(f.box[0] for f in blazeface(twice)) and len(
        blazeface(twice)
    ) == 2
    with pytest.raises(ValueError, match="detector: unknown 'yolo'; known: blazeface, mtcnn, haar"):
        detector("yolo")


def test_predict_takes_the_detector_and_its_limits_from_the_command_line(tmp_path):
    import csv
    import io

    from typer.testing import CliRunner

    from ferpipe.cli import app

    def rows(*options: str) -> tuple[int, list[dict], str]:
        result = CliRunner().invoke(app, ["predict", str(grace_hopper()), *options, "-o", str(tmp_path / "o.csv")])
        written = (tmp_path / "o.csv").read_text() if result.exit_code == 0 else ""
        return result.exit_code, list(csv.DictReader(io.StringIO(written))), result.output

    code, (row,), _ = rows()
    assert code == 0 and 0.8 < float(row["score"]) <= 1
    code, (row,), _ = rows("--detector", "haar")
    assert code == 0 and row["score"] == "" and int(row["width"]) > 200  # Haar's box, larger, no score
    code, _, output = rows("--min-score", "0.99")
    assert code == 1 and "no face: the face detector (blazeface) found none" in output
    code, _, output = rows("--min-face", "300")
    assert code == 1 and "found none" in output
    code, _, output = rows("--detector", "yolo")
    assert code == 2 and "yolo" in output
