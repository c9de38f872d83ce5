"""A VGG-style CNN with batch norm sized for 48x48 faces (after Pramerdorfer & Kampel, 2016).

Four blocks of two 3x3 convolutions (64, 128, 256, 512 filters), each block halving the
resolution (48 → 3), then two dense layers with dropout. Batch norm is synchronized, so
data-parallel replicas (train.distribute) keep the same statistics.
"""

import keras
from keras import layers


def conv_blocks(widths: tuple[int, ...], dropout: float) -> list[keras.Layer]:
    """Per width: two 3x3 convolutions with batch norm and ReLU, then 2x2 max pooling and dropout."""
    blocks = []
    for filters in widths:
        for _ in range(2):
            blocks += [
                layers.Conv2D(filters, 3, padding="same", use_bias=False),
                layers.BatchNormalization(synchronized=True),
                layers.ReLU(),
            ]
        blocks += [layers.MaxPooling2D(2), layers.Dropout(dropout)]
    return blocks


def build(input_shape: tuple[int, int, int], num_classes: int, first: list[keras.Layer]) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            *first,
            layers.Rescaling(1 / 255),
            *conv_blocks((64, 128, 256, 512), dropout=0.25),
            layers.Flatten(),
            layers.Dense(1024, activation="relu"),
            layers.Dropout(0.5),
            layers.Dense(1024, activation="relu"),
            layers.Dropout(0.5),
            layers.Dense(num_classes, activation="softmax", dtype="float32"),
        ],
        name="vgg_bn",
    )
