"""The training stream: a pure function of (seed, epoch, step), so that a resumed run sees the same batches."""

from dataclasses import replace

import numpy as np
import pytest
import tensorflow as tf

from ferpipe.train.inputs import random_affine, training_stream
from tests.conftest import NO_AUGMENTATION, config_of

FACES = np.random.default_rng(0).integers(0, 256, size=(10, 48, 48, 1), dtype=np.uint8)
LABELS = np.arange(10) % 7


def batches(stream, count):
    return [(images.numpy(), labels.numpy()) for images, labels in stream.take(count)]


def test_each_epoch_is_a_fresh_permutation_of_every_row():
    stream = training_stream(FACES, LABELS, 7, batch_size=4, seed=3, augment=NO_AUGMENTATION, first_epoch=0, epochs=2)
    epochs = batches(stream, 6)  # ceil(10 / 4) = 3 batches per epoch, the last one short
    assert [len(images) for images, _ in epochs] == [4, 4, 2, 4, 4, 2]
    first, second = (np.concatenate([images for images, _ in epochs[i:i + 3]]) for i in (0, 3))
    key = lambda images: sorted(map(bytes, images.reshape(len(images), -1)))  # noqa: E731
    assert key(first) == key(second) == key(FACES.astype(np.float32))
    assert not np.array_equal(first, second)
    labels = np.concatenate([labels for _, labels in epochs[:3]])
    assert labels.shape == (10, 7) and labels.sum() == 10


def test_soft_targets_travel_with_their_images_unchanged():
    targets = np.random.default_rng(1).dirichlet(np.ones(8), size=10).astype(np.float32)
    # Each image's first pixel says which row it is, so its target can be looked up.
    faces = FACES.copy()
    faces[:, 0, 0, 0] = np.arange(10)
    for images, batch_targets in batches(training_stream(faces, targets, 8, 4, 3, NO_AUGMENTATION, 0, 1), 3):
        np.testing.assert_array_equal(batch_targets, targets[images[:, 0, 0, 0].astype(int)])


def test_a_stream_started_at_a_later_epoch_continues_the_full_one_exactly():
    augment = config_of("train").augment
    full = batches(training_stream(FACES, LABELS, 7, 4, 3, augment, first_epoch=0, epochs=3), 9)
    resumed = batches(training_stream(FACES, LABELS, 7, 4, 3, augment, first_epoch=2, epochs=3), 3)
    for (images, labels), (again, again_labels) in zip(full[6:], resumed, strict=True):
        np.testing.assert_array_equal(images, again)
        np.testing.assert_array_equal(labels, again_labels)


def test_augmentation_changes_images_and_depends_only_on_the_seed():
    images = tf.constant(FACES, tf.float32)
    one = random_affine(images, config_of("train").augment, tf.constant([1, 2], tf.int64)).numpy()
    same = random_affine(images, config_of("train").augment, tf.constant([1, 2], tf.int64)).numpy()
    other = random_affine(images, config_of("train").augment, tf.constant([1, 3], tf.int64)).numpy()
    np.testing.assert_array_equal(one, same)
    assert not np.array_equal(one, other) and not np.array_equal(one, FACES)
    assert one.min() >= 0 and one.max() <= 255  # edges repeated, no black borders invented


@pytest.mark.parametrize("mirrored", [True, False])
def test_flip_alone_mirrors_an_image_or_leaves_it_untouched(mirrored):
    image = tf.constant(FACES[:1], tf.float32)
    flip_only = replace(NO_AUGMENTATION, flip=True)
    for attempt in range(50):  # find a seed that draws the wanted side
        out = random_affine(image, flip_only, tf.constant([attempt, 0], tf.int64)).numpy()
        if np.allclose(out, FACES[:1, :, ::-1], atol=1e-3) == mirrored:
            break
    expected = FACES[:1, :, ::-1] if mirrored else FACES[:1]
    np.testing.assert_allclose(out, expected, atol=1e-3)
