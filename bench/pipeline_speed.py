"""The whole `dvc repro` on the embedded default data, its no-op re-run, and
a 3-experiment DVC queue on 2 workers against the same 3 experiments run one after another.

Works in a fresh `git clone` of the repository's HEAD (the `synthesize` stage writes the data),
with this interpreter's `dvc` on PATH.
The serial and queued sides train the same recipe with different learning rates (identical
params would be restored from DVC's run-cache instead of trained), so they cost the same.

    python bench/pipeline_speed.py [--repo .] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
ENV.pop("MLFLOW_TRACKING_URI", None)


def run(*command: str, cwd: Path) -> str:
    # Through a file, not a pipe: the workers `dvc queue start` leaves running hold its output.
    with tempfile.TemporaryFile("w+") as output:
        done = subprocess.run(command, cwd=cwd, env=ENV, stdout=output, stderr=subprocess.STDOUT, text=True)
        output.seek(0)
        text = output.read()
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{text[-4000:]}")
    return text


def timed(*command: str, cwd: Path) -> float:
    started = time.perf_counter()
    run(*command, cwd=cwd)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pipeline-bench-") as folder:
        clone = Path(folder) / "repo"
        subprocess.run(["git", "clone", "-q", str(args.repo), str(clone)], check=True)

        full = timed("dvc", "repro", cwd=clone)
        print(f"dvc repro, every stage           {full:7.1f} s (target <= 180 s)", flush=True)
        noop = timed("dvc", "repro", cwd=clone)
        print(f"dvc repro, nothing changed       {noop:7.1f} s (target <= 10 s)", flush=True)

        serial = sum(timed("dvc", "exp", "run", "-S", f"train.lr={lr}", cwd=clone) for lr in ("1e-3", "2e-3", "3e-3"))
        print(f"3 experiments one after another  {serial:7.1f} s", flush=True)
        run("dvc", "exp", "run", "--queue", "-S", "train.lr=1.5e-3,2.5e-3,3.5e-3", cwd=clone)
        started = time.perf_counter()
        run("dvc", "queue", "start", "-j", str(args.workers), cwd=clone)
        while any(state in run("dvc", "queue", "status", cwd=clone) for state in ("Queued", "Running")):
            time.sleep(1)
        queued = time.perf_counter() - started
        status = run("dvc", "queue", "status", cwd=clone)
        failed = [line.split()[0] for line in status.splitlines() if "Failed" in line]
        if failed:
            logs = subprocess.run(
                ["dvc", "queue", "logs", failed[0]], cwd=clone, env=ENV, capture_output=True, text=True
            )
            raise SystemExit(f"a queued experiment failed:\n{status}\n{logs.stdout[-3000:]}{logs.stderr[-2000:]}")
        print(f"3 experiments, queue of {args.workers} workers {queued:7.1f} s", flush=True)
        print(f"queue speed-up: {serial / queued:.2f}x on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
