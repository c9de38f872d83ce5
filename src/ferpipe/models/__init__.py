"""Model architectures, one module each, looked up by name (`train.arch`).

Every builder takes the input shape and class count and returns an uncompiled Keras model
that accepts raw uint8-range pixels: scaling to [0, 1] is the model's first layer, so the
saved, logged and served model needs no separate preprocessing. The softmax layer is float32
whatever the precision the rest trains in (`train.precision`), so probabilities and the loss
keep full precision.
"""

from __future__ import annotations

from collections.abc import Callable

import keras

from ferpipe.models import alexnet_seed, resnet_small, tiny_cnn, vgg_bn, vgg_small

# Each builder: (input shape, class count, the layers that come first: the crop, or none).
ARCHITECTURES: dict[str, Callable[[tuple[int, int, int], int, list[keras.Layer]], keras.Model]] = {
    "alexnet_seed": alexnet_seed.build,
    "resnet_small": resnet_small.build,
    "tiny_cnn": tiny_cnn.build,
    "vgg_bn": vgg_bn.build,
    "vgg_small": vgg_small.build,
}


def build_model(
    arch: str, input_shape: tuple[int, int, int] = (48, 48, 1), num_classes: int = 7, crop: int = 0
) -> keras.Model:
    """`crop`: the network sees the centre `crop` x `crop` of the input, a CenterCrop layer first
    (`train.crop`). The model still takes whole faces; the training stream's random shift before
    the fixed centre crop makes it a random crop in training, and the centre one at test."""
    try:
        builder = ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(f"train.arch: unknown architecture {arch!r}; known: {sorted(ARCHITECTURES)}") from None
    cropping = bool(crop) and crop != input_shape[0]
    return builder(input_shape, num_classes, [keras.layers.CenterCrop(crop, crop)] if cropping else [])
