"""How a stage starts: `python -m ferpipe.<stage> [--params FILE] [-S group.key=value ...]`.

dvc.yaml runs each stage this way, so a stage's code is its own folder plus the core modules
it imports, and nothing else (the `ferpipe` CLI, with its tools, is not part of any stage).
`ferpipe <stage>` runs the same function. Either way a bad input or parameter ends the stage
with one line on stderr and exit status 1, before TensorFlow is imported (its params and the
inputs it reads are checked first), and with none of its earlier outputs left behind.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from ferpipe.core.config import DEFAULT_PARAMS, Config, ConfigError, load_config
from ferpipe.core.files import clear
from ferpipe.core.paths import STAGE_OUTPUTS
from ferpipe.core.preflight import check_stage_inputs
from ferpipe.core.schema import StageError

EXPECTED_FAILURES = (ConfigError, StageError)


def quiet_tensorflow() -> None:
    """TensorFlow's C++ start-up chatter; set before TensorFlow is imported, and only by default."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # its "E0000" lines (no CUDA, say) are not errors here


class _Lines(logging.Formatter):
    """A stage's own lines plain, warnings and errors marked as such."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {text}"


def setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Lines("%(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    # MLflow's database set-up and artifact notes are not what a stage reports. MLflow sets its
    # logger's level from this variable as it is imported, which happens after this.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("tensorflow").setLevel(logging.WARNING)  # its INFO lines ("Assets written to: /tmp/...")


@contextlib.contextmanager
def quiet_start() -> Iterator[None]:
    """TensorFlow's C++ libraries print start-up lines ("could not find cuda drivers", absl's
    warning about its own logging) whatever TF_CPP_MIN_LOG_LEVEL says; silence file descriptor
    2 while the stage's modules load them. A Python error still shows: it is raised, and
    printed, after the descriptor is back."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


Stage = Callable[[Config], object]


def execute(
    name: str, load_stage: Callable[[], Stage], params: Path | str = DEFAULT_PARAMS, overrides: Sequence[str] = ()
) -> int:
    """Clear the stage's outputs, check its params and the inputs it reads, then import the stage
    (`load_stage`: TensorFlow and MLflow are slow to start) and run it. The exit status: 0, or 1
    after one line naming the problem, with none of an earlier run's outputs left behind."""
    quiet_tensorflow()
    setup_logging()
    # First of all: a refusal below (a bad param, a missing input) must not leave the outputs of
    # an earlier run looking like this one's, for the next stage to take (DVC clears them too).
    clear(*vars(STAGE_OUTPUTS[name]()).values())
    try:
        config = load_config(params, overrides)
        check_stage_inputs(name)
        with quiet_start():
            stage = load_stage()
        stage(config)
    except EXPECTED_FAILURES as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def main(name: str, load_stage: Callable[[], Stage], argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=sys.modules["__main__"].__doc__)
    parser.add_argument("--params", default=str(DEFAULT_PARAMS), help="params file (DVC's params.yaml)")
    parser.add_argument(
        "-S",
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="GROUP.KEY=VALUE",
        help="override a param for this run (repeatable)",
    )
    args = parser.parse_args(argv)
    sys.exit(execute(name, load_stage, args.params, args.overrides))
