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
    np.testing.assert_allclose(class_probabilities(model, FACES, 8, "flip"),
                               class_probabilities(model, mirrored, 8, "flip"), rtol=1e-5, atol=1e-6)


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
