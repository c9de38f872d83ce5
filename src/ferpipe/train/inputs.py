"""The data a run trains on, and tf.data pipelines over it: the training stream and the evaluation batches.

Every random choice in the training stream is a pure function of (seed, epoch, step): the
shuffle order of an epoch comes from a stateless shuffle seeded by (seed, epoch), the
augmentation of a batch from stateless draws seeded by (seed, epoch, step). A run resumed
at epoch k therefore sees exactly the batches an uninterrupted run sees from epoch k on;
Keras' random layers keep their state in generators that a checkpoint does not hold, which
is why augmentation is one stateless affine warp here instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ferpipe.core.arrays import load_optional, load_split
from ferpipe.core.config import AugmentConfig, TrainConfig
from ferpipe.core.schema import DataError

if TYPE_CHECKING:
    import tensorflow as tf


@dataclass(frozen=True)
class TrainingData:
    """The train and val splits a run uses, in memory: every row, or the `train.subset` of them."""

    x_train: np.ndarray
    targets: np.ndarray  # class indices, or (rows, classes) soft targets (ferplus_probability)
    y_train: np.ndarray  # class indices, for class weights
    x_val: np.ndarray
    y_val: np.ndarray
    num_classes: int

    @classmethod
    def load(cls, arrays: Path, config: TrainConfig, num_classes: int) -> TrainingData:
        soft_targets = load_optional(arrays, "targets_train")
        x_train, y_train, *soft = subset(
            config.subset,
            config.seed,
            *load_split(arrays, "train"),
            *([soft_targets] if soft_targets is not None else []),
        )
        x_val, y_val = subset(config.subset, config.seed, *load_split(arrays, "val"))
        if len(x_train) == 0 or len(x_val) == 0:
            raise DataError(f"{arrays}: train has {len(x_train)} and val {len(x_val)} rows; both must be non-empty")
        return cls(x_train, soft[0] if soft else y_train, y_train, x_val, y_val, num_classes)

    def steps_per_epoch(self, batch_size: int) -> int:
        return math.ceil(len(self.x_train) / batch_size)


def subset(size: int, seed: int, *arrays: np.ndarray) -> list[np.ndarray]:
    """The same seeded random rows, at most `size` (all when size is 0), of each array, in memory."""
    count = len(arrays[0])
    if size <= 0 or size >= count:
        return [np.asarray(a) for a in arrays]
    rows = np.sort(np.random.default_rng(seed).permutation(count)[:size])
    return [np.asarray(a[rows]) for a in arrays]


def training_stream(
    x: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    batch_size: int,
    seed: int,
    augment: AugmentConfig,
    first_epoch: int,
    epochs: int,
) -> tf.data.Dataset:
    """Batches of epochs first_epoch..epochs-1 back to back, ceil(len(x) / batch_size) per epoch, repeated.

    `y`: class indices (one-hot encoded here) or, for soft targets, a (rows, num_classes) array."""
    import tensorflow as tf

    images, labels = tf.constant(x), tf.constant(y)
    warping = augment.flip or any((augment.shift, augment.rotation, augment.zoom))

    def prepare(epoch: tf.Tensor, step: tf.Tensor, rows: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        batch = tf.cast(tf.gather(images, rows), tf.float32)
        targets = tf.gather(labels, rows)
        targets = tf.one_hot(targets, num_classes) if y.ndim == 1 else tf.cast(targets, tf.float32)
        batch_seed = tf.random.experimental.stateless_fold_in(tf.stack([tf.constant(seed + 1, tf.int64), epoch]), step)
        erase_seed, mix_seed = (tf.random.experimental.stateless_fold_in(batch_seed, i) for i in (1, 2))
        if warping:  # the warp keeps the batch's own seed: recipes without erasing or mixing train as before
            batch = random_affine(batch, augment, batch_seed)
        if augment.erasing:
            batch = random_erasing(batch, augment.erasing, erase_seed)
        if augment.mix != "none":
            batch, targets = mix_pairs(batch, targets, augment.mix, augment.mix_alpha, mix_seed)
        return batch, targets

    def one_epoch(epoch: tf.Tensor) -> tf.data.Dataset:
        order = tf.random.experimental.stateless_shuffle(
            tf.range(len(x)), seed=tf.stack([tf.constant(seed, tf.int64), epoch])
        )
        batches = tf.data.Dataset.from_tensor_slices(order).batch(batch_size).enumerate()
        return batches.map(
            lambda step, rows: prepare(epoch, step, rows), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )

    # At least one epoch: fit reads a first batch even when a checkpoint says training is complete.
    stream = tf.data.Dataset.range(first_epoch, max(epochs, first_epoch + 1)).flat_map(one_epoch)
    return stream.repeat().prefetch(tf.data.AUTOTUNE)


def evaluation_batches(x: np.ndarray, y: np.ndarray, num_classes: int, batch_size: int) -> tf.data.Dataset:
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
    return data.map(lambda images, labels: (tf.cast(images, tf.float32), tf.one_hot(labels, num_classes))).prefetch(2)


def random_affine(images: tf.Tensor, config: AugmentConfig, seed: tf.Tensor) -> tf.Tensor:
    """Each image of an (N, H, W, C) batch flipped, rotated, zoomed and shifted at random, in one warp.

    The ranges mean what Keras' RandomFlip/RandomRotation/RandomZoom/RandomTranslation mean:
    rotation up to ±`rotation` degrees, scale within 1 ± `zoom`, shift up to ±`shift` of the side.
    Pixels from outside the image repeat the nearest edge.
    """
    import keras
    import tensorflow as tf

    count = tf.shape(images)[0]
    height, width = images.shape[1], images.shape[2]
    draws = tf.random.stateless_uniform(tf.stack([count, 5]), seed=seed, minval=-1.0, maxval=1.0)
    mirror = tf.where(draws[:, 0] < 0, -1.0, 1.0) if config.flip else tf.ones_like(draws[:, 0])
    angle = draws[:, 1] * (config.rotation * math.pi / 180)
    scale = 1.0 + draws[:, 2] * config.zoom
    shift_x, shift_y = draws[:, 3] * config.shift * width, draws[:, 4] * config.shift * height
    # Output pixel (x, y) samples input (a0 x + a1 y + a2, b0 x + b1 y + b2): rotation about the
    # centre times scale (times a mirror in x), plus the shift.
    a0, a1 = tf.cos(angle) * scale * mirror, -tf.sin(angle) * scale
    b0, b1 = tf.sin(angle) * scale * mirror, tf.cos(angle) * scale
    centre_x, centre_y = (width - 1) / 2, (height - 1) / 2
    a2 = centre_x - a0 * centre_x - a1 * centre_y + shift_x
    b2 = centre_y - b0 * centre_x - b1 * centre_y + shift_y
    zeros = tf.zeros_like(a0)
    transform = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    return keras.ops.image.affine_transform(
        images, transform, interpolation="bilinear", fill_mode="nearest", data_format="channels_last"
    )


def random_erasing(images: tf.Tensor, probability: float, seed: tf.Tensor) -> tf.Tensor:
    """Random erasing (Zhong et al., 2020): each face of an (N, H, W, C) batch, with `probability`,
    has a rectangle of 2% to 33% of its area, aspect ratio 0.3 to 3.3, replaced by uniform noise."""
    import tensorflow as tf

    count, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
    draws = tf.random.stateless_uniform(tf.stack([count, 5]), seed=seed)
    area = (0.02 + 0.31 * draws[:, 0]) * height * width
    aspect = tf.exp(tf.math.log(0.3) + draws[:, 1] * (tf.math.log(3.3) - tf.math.log(0.3)))
    box_h, box_w = tf.minimum(tf.sqrt(area * aspect), height), tf.minimum(tf.sqrt(area / aspect), width)
    top, left = draws[:, 2] * (height - box_h), draws[:, 3] * (width - box_w)
    inside = box_mask(top, left, box_h, box_w, height, width) & (draws[:, 4] < probability)[:, None, None, None]
    noise = tf.random.stateless_uniform(
        tf.shape(images), seed=tf.random.experimental.stateless_fold_in(seed, 1), maxval=255.0
    )
    return tf.where(inside, noise, images)


def mix_pairs(
    images: tf.Tensor, targets: tf.Tensor, kind: str, alpha: float, seed: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """Mixup (Zhang et al., 2018) or CutMix (Yun et al., 2019) of each face with the one at the mirror
    position of the (already shuffled) batch, weights drawn from Beta(alpha, alpha) per face.

    mixup blends the two faces and their targets by the weight; cutmix pastes a box of the other
    face whose area is 1 - weight, and the targets mix in the proportion of pixels each face keeps."""
    import tensorflow as tf

    count, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
    first, second = (
        tf.random.stateless_gamma(
            tf.stack([count]), seed=tf.random.experimental.stateless_fold_in(seed, i), alpha=alpha
        )
        for i in range(2)
    )
    weight = first / (first + second)  # Beta(alpha, alpha)
    others, other_targets = tf.reverse(images, [0]), tf.reverse(targets, [0])
    if kind == "mixup":
        mixed = weight[:, None, None, None] * images + (1 - weight[:, None, None, None]) * others
    else:
        where = tf.random.stateless_uniform(
            tf.stack([count, 2]), seed=tf.random.experimental.stateless_fold_in(seed, 2)
        )
        side = tf.sqrt(1 - weight)
        box_h, box_w = side * height, side * width
        top = tf.clip_by_value(where[:, 0] * height - box_h / 2, 0, height)
        left = tf.clip_by_value(where[:, 1] * width - box_w / 2, 0, width)
        pasted = box_mask(top, left, tf.minimum(box_h, height - top), tf.minimum(box_w, width - left), height, width)
        mixed = tf.where(pasted, others, images)
        weight = 1 - tf.reduce_mean(tf.cast(pasted, tf.float32), axis=[1, 2, 3])  # the share of pixels kept
    return mixed, weight[:, None] * targets + (1 - weight[:, None]) * other_targets


def box_mask(top: tf.Tensor, left: tf.Tensor, box_h: tf.Tensor, box_w: tf.Tensor, height: int, width: int) -> tf.Tensor:
    """(N, H, W, 1) booleans: the pixels whose centres lie in each image's box."""
    import tensorflow as tf

    rows = tf.range(height, dtype=tf.float32)[None, :, None, None] + 0.5
    columns = tf.range(width, dtype=tf.float32)[None, None, :, None] + 0.5
    top, left = top[:, None, None, None], left[:, None, None, None]
    return (
        (rows >= top)
        & (rows < top + box_h[:, None, None, None])
        & (columns >= left)
        & (columns < left + box_w[:, None, None, None])
    )
