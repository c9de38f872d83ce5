"""What a stage reads from the stages before it, checked before the stage starts TensorFlow.

TensorFlow takes seconds to import; a missing or truncated input must not wait for it. Each
check reads only headers, sizes and checksums: a `.keras` file is a zip whose CRCs must hold,
a folder of arrays must hold every file its manifest lists, each `.npy` as long as its header
says, and a JSON file must parse. Any failure is one line naming the file (`files.reading`).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from ferpipe.core.files import reading
from ferpipe.core.paths import STAGE_OUTPUTS, ConvertOutputs, TrainOutputs

# The stages that start TensorFlow, and the files of earlier stages each of them reads.
STAGE_INPUTS: dict[str, tuple[Path, ...]] = {
    "train": (ConvertOutputs.arrays,),
    "evaluate": (TrainOutputs.model, ConvertOutputs.arrays, TrainOutputs.metrics),
}
KERAS_MEMBERS = ("config.json", "model.weights.h5")  # what Keras 3 writes into every .keras file


def check_stage_inputs(stage: str) -> None:
    for path in STAGE_INPUTS.get(stage, ()):
        check_input(path, made_by(path))


def made_by(path: Path) -> str:
    return next(stage for stage, outputs in STAGE_OUTPUTS.items() if path in vars(outputs()).values())


def check_input(path: Path, made_by: str) -> None:
    if path.suffix == ".keras":
        with reading(path, made_by):
            check_keras_file(path)
    elif path.suffix == ".json":
        with reading(path, made_by):
            json.loads(path.read_text())
    else:
        check_arrays(path, made_by)


def check_keras_file(path: Path) -> None:
    if not path.is_file():
        raise FileNotFoundError(path)
    try:
        with zipfile.ZipFile(path) as archive:
            broken = archive.testzip()
            names = set(archive.namelist())
    except (zipfile.BadZipFile, EOFError) as error:
        raise ValueError(f"not a whole .keras file: {error}") from None
    if broken:
        raise ValueError(f"not a whole .keras file: {broken} fails its checksum")
    missing = [name for name in KERAS_MEMBERS if name not in names]
    if missing:
        raise ValueError(f"not a .keras model file: it holds no {', '.join(missing)}")


def check_arrays(folder: Path, made_by: str = "convert") -> None:
    """Every file the manifest lists is there and as long as its header says (a memory map of a
    truncated `.npy` fails; nothing is read into memory)."""
    import numpy as np

    manifest_file = folder / "manifest.json"
    with reading(manifest_file, made_by):
        listed = json.loads(manifest_file.read_text())["files"]
    for name in listed:
        with reading(folder / name, made_by):
            np.load(folder / name, mmap_mode="r", allow_pickle=False)
