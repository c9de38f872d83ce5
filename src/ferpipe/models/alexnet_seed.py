"""The seed notebook's AlexNet-style CNN, layer for layer (41,462,727 parameters)."""

import keras
from keras import layers


def build(input_shape: tuple[int, int, int], num_classes: int, first: list[keras.Layer]) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            *first,
            layers.Rescaling(1 / 255),
            layers.Conv2D(96, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(256, 2, padding="valid", activation="relu"),
            layers.Conv2D(384, 2, padding="valid", activation="relu"),
            layers.Conv2D(384, 2, padding="valid", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.ReLU(),  # redundant after relu convolutions and pooling, but the seed has it
            layers.Dense(1024, activation="relu"),
            layers.Dropout(0.5),
            layers.Dense(1024, activation="relu"),
            layers.Dropout(0.5),
            layers.Dense(num_classes, activation="softmax", dtype="float32"),
        ],
        name="alexnet_seed",
    )
