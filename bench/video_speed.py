"""Predicting a video against the face detector alone on the same frames.

A 640x480 MJPG video with one face (synthetic faces, a new one each second, scaled up on a
canvas), every frame sampled (`--fps` equal to its rate). Side by side in one process, in turn:
the detector alone (decode each frame, grey it, detect: the floor no prediction can beat) and
`ferpipe predict`'s own path over the same video with the packaged model (decode, detect, crop,
predict, write rows). Both report sampled frames per second; their ratio is the target's.

    python bench/video_speed.py [--seconds 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

RATE = 10  # frames a second in the video, and sampled


def write_video(path: Path, seconds: int) -> int:
    import cv2

    from ferpipe.core.config import load_config
    from ferpipe.synthesize.stage import write_synthetic_csv

    config = load_config(Path(__file__).resolve().parents[1] / "params.yaml").synthetic
    faces_csv = path.with_suffix(".csv")
    write_synthetic_csv(faces_csv, type(config)(seed=3, rows={"Training": seconds, "PublicTest": 0, "PrivateTest": 0}))
    faces = [
        np.array(line.split(",")[1].split(), np.uint8).reshape(48, 48)
        for line in faces_csv.read_text().splitlines()[1:]
    ]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), RATE, (640, 480))
    for frame in range(RATE * seconds):
        canvas = np.full((480, 640), 120, np.uint8)
        canvas[100:292, 200:392] = np.asarray(
            Image.fromarray(faces[frame // RATE]).resize((192, 192), Image.Resampling.BICUBIC)
        )
        writer.write(cv2.cvtColor(canvas, cv2.COLOR_GRAY2BGR))
    writer.release()
    return RATE * seconds


def detector_alone(path: Path) -> float:
    import cv2

    from ferpipe.detect import detector
    from ferpipe.detect.align import faces_in

    found_by, video, frames = detector(), cv2.VideoCapture(str(path)), 0
    started = time.perf_counter()
    while True:
        ok, image = video.read()
        if not ok:
            break
        faces_in(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.cvtColor(image, cv2.COLOR_BGR2RGB), found_by)
        frames += 1
    return frames / (time.perf_counter() - started)


def predicted(path: Path, model, frames: int) -> float:
    from ferpipe.tools.predict import predict_to

    started = time.perf_counter()
    report = predict_to(model, [path], io.StringIO(), fps=RATE)
    assert not report.failures, report.failures
    return frames / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from ferpipe import packaged

    model, _ = packaged.load()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "clip.avi"
        frames = write_video(path, args.seconds)
        alone, whole = [], []
        for _ in range(args.rounds):
            alone.append(detector_alone(path))
            whole.append(predicted(path, model, frames))
    print(f"{frames} frames of 640x480, each sampled; {args.rounds} rounds, in turn")
    print(f"face detector alone:        {statistics.median(alone):6.1f} frames/s")
    print(f"ferpipe predict (packaged): {statistics.median(whole):6.1f} frames/s")
    print(f"ratio: {statistics.median(whole) / statistics.median(alone):.2f}x")


if __name__ == "__main__":
    main()
