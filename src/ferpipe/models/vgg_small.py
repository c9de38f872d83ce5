"""A compact VGG-style CNN with batch norm, sized so that a real training run fits in one CPU session.

Four blocks of two 3x3 convolutions (32, 64, 128, 256 filters), each block halving the resolution
(48 → 3), then global average pooling instead of vgg_bn's dense layers: about 1.2M parameters and
a fifth of vgg_bn's multiply-adds, so a 2-core CPU trains it at roughly 80 images a second (about
six minutes per FER2013 epoch) where vgg_bn and alexnet_seed take fifteen or more.
"""

import keras
from keras import layers


def build(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    blocks = []
    for filters in (32, 64, 128, 256):
        for _ in range(2):
            blocks += [layers.Conv2D(filters, 3, padding="same", use_bias=False), layers.BatchNormalization(synchronized=True),
                       layers.ReLU()]
        blocks += [layers.MaxPooling2D(2), layers.Dropout(0.2)]
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Rescaling(1 / 255),
            *blocks,
            layers.GlobalAveragePooling2D(),
            layers.Dropout(0.4),
            layers.Dense(num_classes, activation="softmax"),
        ],
        name="vgg_small",
    )
