"""How close training runs to this CPU's limit, per architecture.

The limit is the machine's measured float32 matmul rate (TensorFlow, all cores, 2048x2048
matrices), taken before and after the training runs. Training's achieved rate is the model's
multiply-adds per image (convolutions and dense layers) x 2 (a multiply-add is two FLOPs)
x 3 (forward, and a backward pass about twice the forward) x images per second, with images
per second from `bench/train_throughput.py`'s `stage` side (the train stage's own input
pipeline and compile, timed on the second epoch).

    python bench/train_efficiency.py [--archs alexnet_seed vgg_small] [--batch-sizes 64 128]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

THROUGHPUT = Path(__file__).with_name("train_throughput.py")


def profile(archs: list[str]) -> None:
    """Child: the matmul peak in GFLOP/s and each architecture's multiply-adds per image."""
    import keras
    import tensorflow as tf

    from ferpipe.models import build_model

    n = 2048
    a, b = tf.random.normal((n, n)), tf.random.normal((n, n))
    tf.linalg.matmul(a, b).numpy()
    started, reps = time.perf_counter(), 20
    for _ in range(reps):
        tf.linalg.matmul(a, b).numpy()
    peak = 2 * n**3 * reps / (time.perf_counter() - started) / 1e9
    macs = {}
    for arch in archs:
        model, total = build_model(arch), 0
        for layer in model.layers:
            if isinstance(layer, keras.layers.Conv2D):
                kh, kw = layer.kernel_size
                _, h, w, out = layer.output.shape
                total += h * w * out * kh * kw * layer.input.shape[-1] // layer.groups
            elif isinstance(layer, keras.layers.Dense):
                total += layer.input.shape[-1] * layer.units
        macs[arch] = total
    print(json.dumps({"peak_gflops": peak, "macs": macs}))


def measured(command: list[str]) -> dict:
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archs", nargs="+", default=["alexnet_seed", "vgg_small"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[64, 128])
    parser.add_argument("--arrays", type=Path, default=Path("data/arrays"))
    parser.add_argument("--images", type=int, default=1536)
    parser.add_argument("--profile", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.profile:
        profile(args.archs)
        return
    flags = {
        f
        for line in Path("/proc/cpuinfo").read_text().splitlines()
        if line.startswith("flags")
        for f in line.split(":", 1)[1].split()
    }
    before = measured([sys.executable, __file__, "--profile", "--archs", *args.archs])
    rates = {}
    for arch in args.archs:
        for batch_size in args.batch_sizes:
            rates[arch, batch_size] = measured(
                [
                    sys.executable,
                    str(THROUGHPUT),
                    "--child",
                    "stage",
                    "--arrays",
                    str(args.arrays),
                    "--images",
                    str(args.images),
                    "--arch",
                    arch,
                    "--batch-size",
                    str(batch_size),
                ]
            )["images_per_second"]
    after = measured([sys.executable, __file__, "--profile", "--archs", *args.archs])
    peak = (before["peak_gflops"] + after["peak_gflops"]) / 2

    print(
        f"# {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, "
        f"{' '.join(sorted(f for f in flags if f.startswith(('avx', 'amx', 'fma'))))}"
    )
    print(f"matmul peak: {before['peak_gflops']:.1f} GFLOP/s before, {after['peak_gflops']:.1f} after")
    print("| arch | MMAC/image | batch | img/s | training GFLOP/s | of matmul peak |\n|---|---:|---:|---:|---:|---:|")
    for (arch, batch_size), rate in rates.items():
        gflops = before["macs"][arch] * 2 * 3 * rate / 1e9
        print(
            f"| {arch} | {before['macs'][arch] / 1e6:.1f} | {batch_size} | {rate:.1f} | {gflops:.1f} | "
            f"{gflops / peak:.0%} |"
        )


if __name__ == "__main__":
    main()
