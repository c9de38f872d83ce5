"""Behaviour a user of a trained model relies on, whatever its weights (after Made With ML's
behavioural tests): properties of how the project asks a model for probabilities."""

import numpy as np
import pytest

from ferpipe.core.inference import class_probabilities
from ferpipe.models import build_model
from tests.conftest import random_faces

pytestmark = pytest.mark.slow  # TensorFlow models, trained or served


@pytest.fixture(scope="module")
def model():
    import keras

    keras.utils.set_random_seed(3)
    return build_model("tiny_cnn", (48, 48, 1), 7)


FACES = random_faces(16, seed=11).reshape(-1, 48, 48, 1)


def test_a_face_and_its_mirror_get_the_same_answer_under_flip_tta(model):
    mirrored = FACES[:, :, ::-1]
    np.testing.assert_allclose(
        class_probabilities(model, FACES, 8, "flip"),
        class_probabilities(model, mirrored, 8, "flip"),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.parametrize("value", [0, 128, 255])
@pytest.mark.parametrize("tta", ["none", "flip", "ten_crop"])
def test_a_constant_image_gets_a_valid_distribution(model, value, tta):
    probabilities = class_probabilities(model, np.full((2, 48, 48, 1), value, np.uint8), 8, tta)
    assert probabilities.shape == (2, 7) and np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)


def test_the_answer_for_a_face_does_not_depend_on_the_batch_it_came_in(model):
    together = class_probabilities(model, FACES, 16, "ten_crop")
    alone = np.concatenate([class_probabilities(model, FACES[i : i + 1], 1, "ten_crop") for i in range(len(FACES))])
    np.testing.assert_allclose(together, alone, rtol=1e-4, atol=1e-6)


def test_no_faces_give_no_rows_not_an_error(model):
    assert class_probabilities(model, np.zeros((0, 48, 48, 1), np.uint8), 8, "flip").shape == (0, 7)


def patch_faces(count: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noise faces; class 1 carries a bright 8x8 patch at a random place, class 0 none. Returns the
    faces, their classes and each patch's top-left corner."""
    rng = np.random.default_rng(seed)
    faces = rng.integers(0, 120, (count, 48, 48, 1)).astype(np.uint8)
    classes = rng.integers(0, 2, count)
    corners = rng.integers(2, 48 - 10, (count, 2))
    for face, label, (y, x) in zip(faces, classes, corners, strict=True):
        if label:
            face[y : y + 8, x : x + 8] = 255
    return faces, classes, corners


def test_grad_cam_points_at_the_patch_that_decides_the_class(tmp_path):
    import keras

    from ferpipe.core.gradcam import heatmaps

    keras.utils.set_random_seed(5)
    faces, classes, _ = patch_faces(1200, seed=1)
    network = build_model("tiny_cnn", (48, 48, 1), 2)
    network.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    network.fit(faces.astype(np.float32), classes, epochs=4, batch_size=32, verbose=0)
    test, test_classes, corners = patch_faces(200, seed=2)
    with_patch = test_classes == 1
    maps, explained = heatmaps(network, test[with_patch], np.ones(with_patch.sum(), int))
    assert (explained == 1).all()
    peaks = [np.unravel_index(m.argmax(), m.shape) for m in maps]
    inside = [
        y - 2 <= py < y + 10 and x - 2 <= px < x + 10
        for (py, px), (y, x) in zip(peaks, corners[with_patch], strict=True)
    ]
    assert np.mean(inside) >= 0.8, f"the map peaks on the patch for {np.mean(inside):.0%} of the faces"
