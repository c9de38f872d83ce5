"""`mlflow models serve` under a bounded load, each input form against bare
`model.predict` on the same faces, in one run.

One network (vgg_small by default, freshly initialised: speed does not depend on the weights)
is logged as the pipeline logs it (`ferpipe.core.tracking.log_model`) and served on 127.0.0.1
by `mlflow models serve --env-manager local`: "now", answering with its LiteRT export. "keras"
is the same logged model without that export, answering with the Keras network as models
logged before it do; "before" is that, logged with the signature the model had before the
compact form (`faces` a float32 tensor): the baseline for the JSON form. For each form, a
fixed number of requests of `--faces` faces each is sent at concurrency 1 and 4; requests/s is
requests over wall time, and p50/p95 are per-request latencies. Each server's start-up (to its
first answer to /ping) and peak memory (the largest process of its tree: at start-up, and in
each row alone) are reported. "bare" is `model.predict` on the same faces in this process, as
calls per second.

    python bench/serving_load.py [--faces 256] [--requests 16] [--arch vgg_small]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

CONCURRENCY = (1, 4)


def bodies(faces: np.ndarray) -> dict[str, bytes]:
    """One request body per input form, made once: the client's own cost is not measured."""
    from PIL import Image

    def png_uri(face: np.ndarray) -> str:
        buffer = io.BytesIO()
        Image.fromarray(face[..., 0]).save(buffer, format="PNG")
        return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()

    raw = [base64.b64encode(face.tobytes()).decode() for face in faces]
    return {
        "json": json.dumps({"inputs": {"faces": faces.tolist()}}).encode(),
        "compact raw": json.dumps({"inputs": {"faces": raw}}).encode(),
        "compact png": json.dumps({"inputs": {"faces": [png_uri(face) for face in faces]}}).encode(),
    }


def log_models(network, faces: np.ndarray, store: Path) -> dict[str, str]:
    """The model as the pipeline logs it, and the same with the float32 signature it had before."""
    import mlflow
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    from ferpipe.core import serving, tracking
    from ferpipe.core.schema import EMOTIONS

    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
    experiment = mlflow.create_experiment("serving-bench", artifact_location=(store / "artifacts").as_uri())
    uris = {}
    with mlflow.start_run(experiment_id=experiment):
        uris["now"] = tracking.log_model(network, faces[:2], list(EMOTIONS), "synthetic")
        current = serving.signature
        serving.signature = lambda label_names: ModelSignature(
            inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, -1, -1, -1), name="faces")]),
            outputs=current(label_names).outputs,
        )
        try:
            before = tracking.log_model(network, faces[:2].astype(np.float32), list(EMOTIONS), "synthetic")
        finally:
            serving.signature = current
    uris["keras"], uris["before"] = keras_only(uris["now"], store / "keras"), keras_only(before, store / "before")
    return uris


def keras_only(uri: str, folder: Path) -> str:
    """The logged model without its LiteRT export, as a local folder: it answers with the Keras network."""
    import mlflow
    from mlflow.models import Model

    from ferpipe.core.serving import LITE_NETWORK

    folder = Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(folder)))
    logged = Model.load(folder)
    (folder / logged.flavors["python_function"]["artifacts"].pop(LITE_NETWORK)["path"]).unlink()
    logged.save(folder / "MLmodel")
    return str(folder)


class Server:
    def __init__(self, uri: str, store: Path):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.log = open(store / f"serve-{self.port}.log", "w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "models",
                "serve",
                "-m",
                uri,
                "--env-manager",
                "local",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}"},
        )
        started = time.monotonic()
        deadline = started + 180
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/ping", timeout=2)
                self.start_seconds = time.monotonic() - started
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the server did not come up: see {self.log.name}") from None
                time.sleep(0.5)

    def post(self, body: bytes) -> float:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/invocations", data=body, headers={"Content-Type": "application/json"}
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=600) as answer:
            answer.read()
        return time.perf_counter() - started

    def processes(self) -> list[int]:
        pids, found = [self.process.pid], []
        while pids:
            pid = pids.pop()
            try:
                pids += [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
            except OSError:
                continue
            found.append(pid)
        return found

    def peak_mb(self) -> float:
        """The largest peak resident memory among the server's processes (the worker holds the model)
        since the last `reset_peak`, or since start-up."""
        peaks = [int(Path(f"/proc/{pid}/status").read_text().split("VmHWM:")[1].split()[0]) for pid in self.processes()]
        return max(peaks) / 1024

    def reset_peak(self) -> None:
        for pid in self.processes():
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # Linux: the peak starts again from the current size

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def load(server: Server, body: bytes, requests: int, concurrency: int) -> tuple[float, float, float]:
    """Requests per second, p50 and p95 latency in seconds."""
    server.post(body)  # warm: the first call traces the model
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as clients:
        latencies = list(clients.map(lambda _: server.post(body), range(requests)))
    wall = time.perf_counter() - started
    return requests / wall, float(np.percentile(latencies, 50)), float(np.percentile(latencies, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=int, default=256)
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--arch", default="vgg_small")
    args = parser.parse_args()

    from ferpipe.models import build_model

    faces = np.random.default_rng(0).integers(0, 256, (args.faces, 48, 48, 1), dtype=np.uint8)
    network = build_model(args.arch)
    network.predict(faces, verbose=0)
    started, calls = time.perf_counter(), 5
    for _ in range(calls):
        network.predict(faces, verbose=0)
    bare = calls / (time.perf_counter() - started)
    forms = bodies(faces)

    results, servers = [], {}
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder)
        uris = log_models(network, faces, store)
        compact = [name for name in forms if name != "json"]
        for model, names in (("before", ["json"]), ("keras", compact), ("now", [*compact, "json"])):  # JSON last:
            # the memory its parsing takes stays with the process, and would show in the rows after it
            server = Server(uris[model], store)
            try:
                servers[model] = (server.start_seconds, server.peak_mb())
                for name in names:
                    for concurrency in CONCURRENCY:
                        server.reset_peak()
                        measured = load(server, forms[name], args.requests, concurrency)
                        results.append((model, name, concurrency, len(forms[name]), *measured, server.peak_mb()))
            finally:
                server.stop()

    print(
        f"# {time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{args.arch}, {args.faces} faces per request, {args.requests} requests per row"
    )
    print(f"bare model.predict on the same faces: {bare:.2f} calls/s")
    print(
        "| model | form | body KB | concurrency | requests/s | p50 s | p95 s | vs bare | server peak MB |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    for signature, name, concurrency, size, rate, p50, p95, peak in results:
        print(
            f"| {signature} | {name} | {size / 1024:.0f} | {concurrency} | {rate:.2f} | {p50:.2f} | {p95:.2f} | "
            f"{rate / bare:.2f}x | {peak:,.0f} |"
        )
    base = {c: r for s, n, c, _, r, *_ in results if s == "before"}
    keras = {(n, c): r for s, n, c, _, r, *_ in results if s == "keras"}
    for _, name, concurrency, _, rate, *_ in (r for r in results if r[0] == "now"):
        print(
            f"{name} at concurrency {concurrency}: {rate / base[concurrency]:.2f}x the JSON form before"
            + (f", {rate / keras[name, concurrency]:.2f}x the Keras network" if (name, concurrency) in keras else "")
        )
    print("| server | start-up s (to /ping) | peak MB at start-up |\n|---|---:|---:|")
    for model, (start_seconds, peak) in servers.items():
        print(f"| {model} | {start_seconds:.1f} | {peak:,.0f} |")


if __name__ == "__main__":
    main()
