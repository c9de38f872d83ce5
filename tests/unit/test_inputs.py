"""The training stream: a pure function of (seed, epoch, step), so that a resumed run sees the same batches."""

from dataclasses import replace

import numpy as np
import pytest
import tensorflow as tf

from ferpipe.train.inputs import mix_pairs, random_affine, random_erasing, training_stream
from tests.conftest import NO_AUGMENTATION, config_of

FACES = np.random.default_rng(0).integers(0, 256, size=(10, 48, 48, 1), dtype=np.uint8)
LABELS = np.arange(10) % 7


def batches(stream, count):
    return [(images.numpy(), labels.numpy()) for images, labels in stream.take(count)]


def test_each_epoch_is_a_fresh_permutation_of_every_row():
    stream = training_stream(FACES, LABELS, 7, batch_size=4, seed=3, augment=NO_AUGMENTATION, first_epoch=0, epochs=2)
    epochs = batches(stream, 6)  # ceil(10 / 4) = 3 batches per epoch, the last one short
    assert [len(images) for images, _ in epochs] == [4, 4, 2, 4, 4, 2]
    first, second = (np.concatenate([images for images, _ in epochs[i : i + 3]]) for i in (0, 3))
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


@pytest.mark.parametrize("extra", [{}, {"erasing": 0.5, "mix": "mixup"}, {"erasing": 0.5, "mix": "cutmix"}])
def test_a_stream_started_at_a_later_epoch_continues_the_full_one_exactly(extra):
    augment = replace(config_of("train").augment, **extra)
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


def test_erasing_replaces_one_rectangle_of_each_chosen_face_by_noise():
    black = tf.zeros((200, 48, 48, 1))
    erased = random_erasing(black, 0.5, tf.constant([5, 6], tf.int64)).numpy()
    changed = erased[..., 0] != 0
    touched = changed.any(axis=(1, 2))
    assert 0.35 < touched.mean() < 0.65  # about half the faces, as asked
    for mask in changed[touched]:  # one axis-aligned rectangle: the box around the changes is all changed
        rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        box = mask[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]
        assert box.mean() > 0.99 and 0.01 < box.size / mask.size < 0.4
    assert erased.max() <= 255 and erased.min() >= 0
    np.testing.assert_array_equal(erased, random_erasing(black, 0.5, tf.constant([5, 6], tf.int64)).numpy())


@pytest.mark.parametrize("kind", ["mixup", "cutmix"])
def test_mixed_targets_say_how_much_of_each_face_the_image_holds(kind):
    # Half the faces are black (class 0) and half white (class 1): a mixed image's brightness
    # is the share of the white face in it, which its target must state.
    images = tf.constant(np.repeat([0.0, 255.0], 32)[:, None, None, None] * np.ones((64, 48, 48, 1)), tf.float32)
    targets = tf.constant(np.eye(7)[np.repeat([0, 1], 32)], tf.float32)
    mixed, mixed_targets = (t.numpy() for t in mix_pairs(images, targets, kind, 1.0, tf.constant([1, 2], tf.int64)))
    np.testing.assert_allclose(mixed_targets.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(mixed_targets[:, 1], mixed.mean(axis=(1, 2, 3)) / 255, atol=1e-5)
    assert 0.1 < mixed_targets[:, 1].std()  # weights drawn per face, not one for the batch
    if kind == "cutmix":  # pixels are either face's own, never blended
        assert set(np.unique(mixed)) <= {0.0, 255.0}
