"""Stage `convert`: the validated Parquet copy → uint8 NumPy arrays per split, plus a manifest.

Pixels stay uint8 (N, 48, 48, 1) on disk and in memory; scaling belongs to the model's
input pipeline. Masks mark the val/test rows whose exact image also occurs in train, so
evaluation can report figures on de-duplicated test rows.

Labels are the ones ingest chose (`ingest.labels`): `y_<split>` class indices under the
manifest's `label_names`, faces dropped by the label rules left out. Soft-target modes add
`targets_train.npy` (rows x classes); FER+ modes add `fer2013_<split>.npy` (the original
labels of val and test), so evaluation can say how the model agrees with them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from ferpipe.core.config import Config
from ferpipe.core.duplicates import seen_in
from ferpipe.core.faces import read_faces
from ferpipe.core.files import atomic_outputs, clear, sha256_of, write_json
from ferpipe.core.paths import ConvertOutputs, IngestOutputs
from ferpipe.core.schema import IMAGE_SIDE, SPLITS, USAGE_OF_SPLIT, class_counts

log = logging.getLogger(__name__)


def run(config: Config) -> None:
    """Stage convert: validated faces → uint8 arrays per split (train/val/test) and a manifest."""
    convert()


def convert(faces_path: Path = IngestOutputs.faces, out_dir: Path = ConvertOutputs.arrays) -> dict[str, Any]:
    clear(out_dir)
    table, pixels, metadata = read_faces(faces_path)
    split = table["split"].to_numpy(zero_copy_only=False)
    mode, names = metadata["labels"], json.loads(metadata["label_names"])
    kept = table["label"].is_valid().to_numpy(zero_copy_only=False)
    labels = table["label"].fill_null(-1).to_numpy().astype(np.int64)
    source_rows = table["source_row"].to_numpy()
    rows = {name: np.flatnonzero((split == name) & kept) for name in SPLITS}
    groups = table["image_group"].to_numpy()

    arrays: dict[str, np.ndarray] = {}
    for name in SPLITS:
        arrays[f"x_{name}"] = pixels[rows[name]].reshape(-1, IMAGE_SIDE, IMAGE_SIDE, 1)
        arrays[f"y_{name}"] = labels[rows[name]]
        arrays[f"source_rows_{name}"] = source_rows[rows[name]]
    for name in ("val", "test"):
        arrays[f"{name}_seen_in_train"] = seen_in(groups, rows[name], rows["train"])
        if mode != "fer2013":
            arrays[f"fer2013_{name}"] = table["emotion"].to_numpy().astype(np.int64)[rows[name]]
    if "target" in table.column_names:
        targets = table["target"].combine_chunks().take(rows["train"])
        arrays["targets_train"] = targets.flatten().to_numpy().astype(np.float32).reshape(-1, len(names))

    with atomic_outputs(out_dir) as staged:
        folder = staged(out_dir)
        folder.mkdir()
        for name, array in arrays.items():
            np.save(folder / f"{name}.npy", array, allow_pickle=False)
        manifest = {
            "data": metadata.get("data", "unknown"),
            "source": metadata.get("source"),
            "source_sha256": metadata.get("source_sha256"),
            "labels": mode,
            "label_names": names,
            "targets": "soft" if "targets_train" in arrays else "hard",
            "image_shape": [IMAGE_SIDE, IMAGE_SIDE, 1],
            "pixel_dtype": "uint8",
            "splits": {
                name: {
                    "count": len(rows[name]),
                    "from_usage": USAGE_OF_SPLIT[name],
                    "classes": class_counts(arrays[f"y_{name}"], names),
                    "dropped_by_labels": int(((split == name) & ~kept).sum()),
                    **({"seen_in_train": int(arrays[f"{name}_seen_in_train"].sum())} if name != "train" else {}),
                }
                for name in SPLITS
            },
            "files": {f"{name}.npy": sha256_of(folder / f"{name}.npy") for name in arrays},
        }
        write_json(folder / "manifest.json", manifest)
    log.info("wrote %s: %s", out_dir, {name: len(r) for name, r in rows.items()})
    return manifest
