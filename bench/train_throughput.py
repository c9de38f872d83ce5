"""Train-stage throughput against bare `model.fit` on the same arrays.

Same model (alexnet_seed by default), same batch size, same images; each side runs in its
own process, one after the other, and is timed on its second epoch (the first traces the
graph). "bare" is `model.fit(x, one_hot(y))` on in-memory numpy arrays with a plain Adam /
categorical cross-entropy compile; "stage" is the train stage's own input pipeline and
compile (seeded, op determinism on), without and with the default augmentation; "stage-bf16"
is the stage in Keras' mixed_bfloat16 policy (`train.precision`), forced even on a CPU without
native bfloat16, so that the ratio to "stage" shows what the precision gives on this CPU.

    python bench/train_throughput.py [--arrays data/arrays] [--images 3072] [--arch alexnet_seed]
    python bench/train_throughput.py --arch vgg_small --batch-size 64 --sides stage stage-bf16
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"  # the repository's, wherever this runs


def child(side: str, arrays: Path, images: int, arch: str, batch_size: int) -> None:
    from dataclasses import replace

    import keras
    import numpy as np

    from ferpipe.core.arrays import load_split
    from ferpipe.core.config import load_config
    from ferpipe.models import build_model
    from ferpipe.train.inputs import training_stream
    from ferpipe.train.recipe import compile_model

    x, y = load_split(arrays, "train")
    x, y = np.asarray(x[:images]), np.asarray(y[:images])
    steps = len(x) // batch_size
    epoch_times: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            epoch_times.append(time.perf_counter() - self.started)

    if side == "bare":
        model = build_model(arch)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", metrics=["accuracy"])
        model.fit(
            x[: steps * batch_size],
            np.eye(7)[y[: steps * batch_size]],
            batch_size=batch_size,
            epochs=2,
            callbacks=[Timer()],
            verbose=0,
        )
    else:
        config = replace(load_config(PARAMS).train, arch=arch, batch_size=batch_size)  # type: ignore[arg-type]  # argparse's choices
        if side == "stage-no-augmentation":
            config = replace(config, augment=replace(config.augment, flip=False, shift=0.0, rotation=0.0, zoom=0.0))
        keras.utils.set_random_seed(config.seed)
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        if side == "stage-bf16":
            keras.config.set_dtype_policy("mixed_bfloat16")
        model = compile_model(config, 7, x.shape[1:])
        data = training_stream(x, y, 7, batch_size, config.seed, config.augment, first_epoch=0, epochs=2)
        model.fit(data, epochs=2, steps_per_epoch=steps, callbacks=[Timer()], verbose=0)
    print(
        json.dumps(
            {"side": side, "images_per_second": steps * batch_size / epoch_times[-1], "epoch_seconds": epoch_times[-1]}
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--arrays", type=Path, default=Path("data/arrays"))
    parser.add_argument("--images", type=int, default=3072)
    parser.add_argument("--arch", default="alexnet_seed")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--sides",
        nargs="+",
        default=["bare", "stage-no-augmentation", "stage"],
        choices=["bare", "stage-no-augmentation", "stage", "stage-bf16"],
    )
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.arrays, args.images, args.arch, args.batch_size)
        return
    results = {}
    flags = {
        f
        for line in Path("/proc/cpuinfo").read_text().splitlines()
        if line.startswith("flags")
        for f in line.split(":", 1)[1].split()
    }
    print("CPU:", " ".join(sorted(f for f in flags if f.startswith(("avx", "amx", "fma")))))
    for side in args.sides:
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                side,
                "--arrays",
                str(args.arrays),
                "--images",
                str(args.images),
                "--arch",
                args.arch,
                "--batch-size",
                str(args.batch_size),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        results[side] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{side:24s} {results[side]['images_per_second']:7.1f} img/s")
    if "bare" in results:
        bare = results["bare"]["images_per_second"]
        for side in ("stage-no-augmentation", "stage"):
            if side in results:
                print(f"{side} / bare model.fit: {results[side]['images_per_second'] / bare:.2f}x (target >= 0.95x)")
    if {"stage", "stage-bf16"} <= set(results):
        print(
            f"stage-bf16 / stage: {results['stage-bf16']['images_per_second'] / results['stage']['images_per_second']:.2f}x"
        )


if __name__ == "__main__":
    main()
