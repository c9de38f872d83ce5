"""How soon `ferpipe serve` (the packaged model, the light app) answers: seconds from the command's
start to the first answer of `GET /ping` and of a first `POST /analyze` of a photo, each run a fresh
process, against `ferpipe --version` (the command line's own start) in the same run, in turn.

    python bench/serve_start.py [--runs 5]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_ready(ferpipe: str, photo: bytes) -> tuple[float, float]:
    port = free_port()
    started = time.perf_counter()
    server = subprocess.Popen(
        [ferpipe, "serve", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1)
                break
            except OSError:
                time.sleep(0.02)
        ready = time.perf_counter() - started
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/analyze", data=photo, headers={"Content-Type": "image/jpeg"}
        )
        urllib.request.urlopen(request, timeout=60).read()
        return ready, time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    import matplotlib.cbook

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    ferpipe = str(Path(sys.executable).parent / "ferpipe")
    photo = Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).read_bytes()
    versions, readies, answers = [], [], []
    for _ in range(args.runs):
        started = time.perf_counter()
        subprocess.run([ferpipe, "--version"], check=True, capture_output=True)
        versions.append(time.perf_counter() - started)
        ready, answered = serve_ready(ferpipe, photo)
        readies.append(ready)
        answers.append(answered)
    version, ready, answered = (statistics.median(v) for v in (versions, readies, answers))
    print(f"ferpipe --version        {version:.2f} s")
    print(f"serve: /ping answers     {ready:.2f} s   ({ready / version:.1f}x --version)")
    print(f"serve: a photo analyzed  {answered:.2f} s   (from the command's start)")


if __name__ == "__main__":
    main()
