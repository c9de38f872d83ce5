"""A small CNN for smoke runs and tests: it learns the synthetic faces quickly on a CPU.

It has what the real architectures have (batch norm, dropout), so smoke runs exercise the same
training paths, random-generator state included.

Batch-norm momentum 0.9 lets its inference statistics settle within the few steps of a smoke run;
batch norm is synchronized, so data-parallel replicas keep the same statistics (train.distribute).
"""

import keras
from keras import layers


def build(input_shape: tuple[int, int, int], num_classes: int, first: list[keras.Layer]) -> keras.Model:
    blocks = []
    for filters in (16, 32, 64):
        blocks += [
            layers.Conv2D(filters, 3, padding="same", use_bias=False),
            layers.BatchNormalization(momentum=0.9, synchronized=True),
            layers.ReLU(),
            layers.MaxPooling2D(2),
        ]
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            *first,
            layers.Rescaling(1 / 255),
            *blocks,
            layers.GlobalAveragePooling2D(),
            layers.Dropout(0.2),
            layers.Dense(num_classes, activation="softmax", dtype="float32"),
        ],
        name="tiny_cnn",
    )
