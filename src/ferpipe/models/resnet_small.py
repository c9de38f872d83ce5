"""vgg_small with residual connections: the same widths and multiply-adds, shortcuts added.

Two 3x3 convolutions of 32 filters at 48x48, then three residual blocks (64, 128, 256 filters),
each opening with a stride-2 convolution (48 → 6) and adding a 1x1 projection of its input
(He et al., 2016), then global average pooling. Widths are multiples of 32: whole AVX-512
vectors of bfloat16. Measured speeds and accuracy beside vgg_small are in BENCHMARKS.md.
"""

import keras
from keras import layers


def conv_bn(x, filters: int, strides: int = 1, size: int = 3):
    x = layers.Conv2D(filters, size, strides=strides, padding="same", use_bias=False)(x)
    return layers.BatchNormalization(synchronized=True)(x)


def residual_block(x, filters: int):
    shortcut = conv_bn(x, filters, strides=2, size=1)
    x = layers.ReLU()(conv_bn(x, filters, strides=2))
    x = layers.ReLU()(layers.Add()([conv_bn(x, filters), shortcut]))
    return layers.Dropout(0.2)(x)


def build(input_shape: tuple[int, int, int], num_classes: int, first: list[keras.Layer]) -> keras.Model:
    inputs = x = keras.Input(shape=input_shape)
    for layer in [*first, layers.Rescaling(1 / 255)]:
        x = layer(x)
    for _ in range(2):
        x = layers.ReLU()(conv_bn(x, 32))
    for filters in (64, 128, 256):
        x = residual_block(x, filters)
    x = layers.Dropout(0.4)(layers.GlobalAveragePooling2D()(x))
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="resnet_small")
