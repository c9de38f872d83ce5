"""A compact VGG-style CNN with batch norm, sized so that a real training run fits in one CPU session.

Four blocks of two 3x3 convolutions (32, 64, 128, 256 filters), each block halving the resolution
(48 → 3), then global average pooling instead of vgg_bn's dense layers: a quarter of the
multiply-adds of vgg_bn and alexnet_seed. Measured speeds are in BENCHMARKS.md.
"""

import keras
from keras import layers

from ferpipe.models.vgg_bn import conv_blocks


def build(input_shape: tuple[int, int, int], num_classes: int, first: list[keras.Layer]) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            *first,
            layers.Rescaling(1 / 255),
            *conv_blocks((32, 64, 128, 256), dropout=0.2),
            layers.GlobalAveragePooling2D(),
            layers.Dropout(0.4),
            layers.Dense(num_classes, activation="softmax", dtype="float32"),
        ],
        name="vgg_small",
    )
