"""Test-time augmentation: which views are averaged, and that the average is what evaluate reports."""

import keras
import numpy as np
import pytest

from ferpipe.core.inference import TTA_SHIFT, class_probabilities, tta_views

FACES = np.random.default_rng(0).integers(0, 256, size=(4, 48, 48, 1)).astype(np.uint8)


def test_flip_views_are_the_face_and_its_mirror():
    original, mirror = tta_views(FACES, "flip")
    np.testing.assert_array_equal(original, FACES)
    np.testing.assert_array_equal(mirror[:, :, ::-1], FACES)


def test_ten_crop_views_are_five_shifts_and_their_mirrors_at_full_size():
    views = tta_views(FACES, "ten_crop")
    assert len(views) == 10 and all(view.shape == FACES.shape for view in views)
    np.testing.assert_array_equal(views[0], FACES)  # the centre view is the face itself
    s = TTA_SHIFT
    # Shifted by (s, s): the pixel at (y, x) comes from (y + s, x + s) of the original.
    np.testing.assert_array_equal(views[4][:, : 48 - s, : 48 - s], FACES[:, s:, s:])
    for view, mirrored in zip(views[:5], views[5:], strict=True):
        np.testing.assert_array_equal(mirrored, view[:, :, ::-1])


def left_half_model():
    """A model that sees only the left half of the face, so a mirror changes its answer."""
    inputs = keras.Input((48, 48, 1))
    left = keras.layers.Lambda(lambda x: x[:, :, :24])(inputs)
    outputs = keras.layers.Dense(7, activation="softmax")(keras.layers.Flatten()(left))
    model = keras.Model(inputs, outputs)
    model.set_weights([np.random.default_rng(1).normal(0, 0.01, (24 * 48, 7)), np.zeros(7)])
    return model


def test_predictions_are_the_mean_over_the_views():
    model = left_half_model()
    plain = class_probabilities(model, FACES, 8, "none")
    mirrored = model.predict(FACES[:, :, ::-1], verbose=0)
    np.testing.assert_allclose(class_probabilities(model, FACES, 8, "flip"), (plain + mirrored) / 2, rtol=1e-5)
    assert not np.allclose(plain, mirrored)
    np.testing.assert_allclose(class_probabilities(model, FACES, 8, "ten_crop").sum(axis=1), 1, rtol=1e-5)


def test_unknown_tta_is_rejected_by_name():
    with pytest.raises(ValueError, match="evaluate.tta"):
        tta_views(FACES, "twenty_crop")
