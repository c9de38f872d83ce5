"""What the network looks at: Grad-CAM (Selvaraju et al., 2017) at its last convolutional block.

For a class c, Grad-CAM weighs each channel of the last convolutional block's activation by the
mean gradient of c's score over that channel, sums the channels and keeps the positive part: a
coarse map (6x6 for vgg_small, 12x12 for tiny_cnn) of where evidence for c lies, scaled up to the
face. The score is the log-probability of c, whose gradient is the logit's less the
probability-weighted mean of all logits' (the softmax is the network's last layer). The last
convolutional block is found the same way in every architecture, stacked or residual: the
activation that ends the last convolution's block, before pooling, flattening or dropout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

BLOCK_ENDS = ("MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Flatten", "Dropout")


def last_conv_block(model: keras.Model) -> keras.Layer:
    """The layer whose output is the last convolutional block's activation."""
    names = [type(layer).__name__ for layer in model.layers]
    if "Conv2D" not in names:
        raise ValueError(f"{model.name}: no convolution to explain (Grad-CAM needs a convolutional network)")
    last = len(names) - 1 - names[::-1].index("Conv2D")
    end = next((i for i in range(last + 1, len(names)) if names[i] in BLOCK_ENDS), len(names))
    return model.layers[end - 1]


def heatmaps(
    model: keras.Model, images: np.ndarray, classes: np.ndarray | None = None, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """Grad-CAM maps in [0, 1], one per image at the image's size, for `classes` (default: the
    predicted one), and the classes they are for. An ensemble's map is its members' mean."""
    import keras

    images = np.asarray(images, dtype=np.float32)
    if classes is None:
        classes = np.asarray(model.predict(images, verbose=0)).argmax(axis=1) if len(images) else np.zeros(0, np.int64)
    members = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    if members and not any(type(layer).__name__ == "Conv2D" for layer in model.layers):
        return np.mean([network_heatmaps(member, images, classes, batch_size) for member in members], axis=0), classes
    return network_heatmaps(model, images, classes, batch_size), classes


def network_heatmaps(model: keras.Model, images: np.ndarray, classes: np.ndarray, batch_size: int) -> np.ndarray:
    import tensorflow as tf

    if len(images) == 0:
        return np.zeros((0, *images.shape[1:3]), np.float32)
    run = with_block_activation(model)
    maps = []
    for start in range(0, len(images), batch_size):
        batch = tf.convert_to_tensor(np.asarray(images[start : start + batch_size], dtype=np.float32))
        with tf.GradientTape() as tape:
            activation, outputs = run(batch, tape)
            chosen = tf.constant(classes[start : start + batch_size], tf.int32)
            score = tf.math.log(tf.gather(outputs, chosen, batch_dims=1) + 1e-12)
        gradients = tape.gradient(score, activation)
        weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(tf.cast(weights * activation, tf.float32), axis=-1, keepdims=True))
        cam = on_the_face(
            tf.image.resize(cam, seen_side(model, images.shape[1]), method="bilinear")[..., 0].numpy(), images.shape[1]
        )
        peak = cam.reshape(len(cam), -1).max(axis=1)
        maps.append(cam / np.where(peak > 0, peak, 1)[:, None, None])
    return np.concatenate(maps)


def with_block_activation(model: keras.Model) -> Callable[[tf.Tensor, tf.GradientTape], tuple[tf.Tensor, tf.Tensor]]:
    """A function of a batch: (the last convolutional block's activation, watched by the tape, and
    the probabilities). A stack runs layer by layer (a loaded Sequential model's layers keep the
    nodes of every call Keras made while loading, so their `.output` may not be this graph's); a
    residual network through a model that also returns the block's output."""
    import keras

    block = last_conv_block(model)
    if not isinstance(model, keras.Sequential):
        probe = keras.Model(model.inputs, [block.output, model.outputs[0]])
        return lambda batch, tape: probe(batch, training=False)

    def stacked(batch: tf.Tensor, tape: tf.GradientTape) -> tuple[tf.Tensor, tf.Tensor]:
        outputs = batch
        for layer in model.layers:
            outputs = layer(outputs, training=False)
            if layer is block:
                activation = outputs
                tape.watch(activation)
        return activation, outputs

    return stacked


def seen_side(model: keras.Model, side: int) -> tuple[int, int]:
    """The side of the face the network sees: its centre crop's (`train.crop`), or the whole."""
    crop = next((layer for layer in model.layers if type(layer).__name__ == "CenterCrop"), None)
    return (crop.height, crop.width) if crop is not None else (side, side)


def on_the_face(maps: np.ndarray, side: int) -> np.ndarray:
    """Maps of the centre a cropped network sees, placed on the whole face (zero outside)."""
    margin = (side - maps.shape[1]) // 2
    return np.pad(maps, ((0, 0), (margin, side - maps.shape[1] - margin), (margin, side - maps.shape[2] - margin)))
