"""A few-thousand-parameter CNN for smoke runs and tests: trains in seconds on a CPU."""

import keras
from keras import layers


def build(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Rescaling(1 / 255),
            layers.Conv2D(8, 3, strides=2, activation="relu"),
            layers.Conv2D(16, 3, strides=2, activation="relu"),
            layers.Conv2D(32, 3, strides=2, activation="relu"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(num_classes, activation="softmax"),
        ],
        name="tiny_cnn",
    )
