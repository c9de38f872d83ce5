"""A trained network as the train stage exports it for LiteRT (`models/model.tflite`, and an
artifact of the logged MLflow model), run without TensorFlow: the same probabilities as the Keras
model, in a fraction of the memory and start-up time (BENCHMARKS.md). It answers to
what `ferpipe predict` and the served model ask of a Keras model, so either runs both kinds alike.
"""

from __future__ import annotations

import os
import threading
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ferpipe.core.entry import quiet_start
from ferpipe.core.schema import IMAGE_SIDE

if TYPE_CHECKING:
    import keras


class Quantization(StrEnum):
    """LiteRT's post-training quantizations of the weights (the converter's own settings): float16
    halves the file, dynamic-range int8 quarters it; activations stay float32 in both."""

    none = "none"
    float16 = "float16"
    dynamic_int8 = "dynamic_int8"


def export(model: keras.Model, path: Path, quantization: str = Quantization.none) -> Path:
    """A Keras network as a LiteRT file, its weights quantized as asked."""
    import tensorflow as tf

    settings: dict[str, dict[str, Any]] = {
        Quantization.none: {},
        Quantization.float16: {
            "optimizations": [tf.lite.Optimize.DEFAULT],
            "target_spec": {"supported_types": [tf.float16]},
        },
        Quantization.dynamic_int8: {"optimizations": [tf.lite.Optimize.DEFAULT]},
    }
    if quantization not in settings:
        raise ValueError(f"quantization: unknown {quantization!r}; known: {', '.join(Quantization)}")
    model.export(str(path), format="litert", verbose=False, **settings[quantization])
    return Path(path)


class LiteModel:
    def __init__(self, path: Path | str):
        from ai_edge_litert.interpreter import Interpreter

        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such model file")
        try:
            interpreter = Interpreter(model_path=str(path), num_threads=os.cpu_count())
            self.runner = interpreter.get_signature_runner()
            ((self.input_name, face),) = self.runner.get_input_details().items()
            (output,) = self.runner.get_output_details().values()
        except (ValueError, RuntimeError) as error:  # truncated or not a flatbuffer; no signature; several inputs
            reason = " ".join(str(error).split())[:160]
            raise ValueError(f"{path}: not a LiteRT network of one face input and one output ({reason})") from None
        if tuple(face["shape_signature"][1:]) != (IMAGE_SIDE, IMAGE_SIDE, 1):
            raise ValueError(
                f"{path}: takes inputs of shape {face['shape_signature'].tolist()}, "
                f"not batches of {IMAGE_SIDE}x{IMAGE_SIDE} grey faces"
            )
        self.input_dtype = face["dtype"]
        # An interpreter runs one call at a time: concurrent calls (a server's request threads) fail
        # with "Invoke called on model that is not ready", or mix up each other's inputs.
        self.one_call_at_a_time = threading.Lock()
        self.output_shape = (None, int(output["shape_signature"][-1]))  # as a Keras model states it
        with quiet_start():  # the first call prints "INFO: Created TensorFlow Lite XNNPACK delegate"
            self.predict_on_batch(np.zeros((1, IMAGE_SIDE, IMAGE_SIDE, 1), np.uint8))

    def predict_on_batch(self, pixels: np.ndarray) -> np.ndarray:
        """Class probabilities of a (N, 48, 48, 1) batch of raw pixels (the network scales them)."""
        with self.one_call_at_a_time:
            (probabilities,) = self.runner(**{self.input_name: pixels.astype(self.input_dtype, copy=False)}).values()
        return probabilities

    def predict(self, pixels: np.ndarray, batch_size: int, verbose: int = 0) -> np.ndarray:
        """As Keras' `model.predict`: any number of faces, `batch_size` at a time (`verbose` is Keras')."""
        parts = [
            self.predict_on_batch(pixels[start : start + batch_size]) for start in range(0, len(pixels), batch_size)
        ]
        return np.concatenate(parts) if parts else np.zeros((0, self.output_shape[-1]), np.float32)
