"""The validated, canonical copy of the data set: one Parquet file, pixels kept as raw bytes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ferpipe.core.files import reading
from ferpipe.core.schema import PIXELS_PER_IMAGE, FaceTable, Labels


def write_faces(
    path: Path, table: FaceTable, splits: np.ndarray, groups: np.ndarray, labels: Labels, metadata: dict[str, str]
) -> None:
    """`groups`: rows with identical pixels share a group id (`duplicates.image_groups`).

    `emotion` is always the source's FER2013 label; `label` is the one to train on (null for a
    dropped face, with its reason in `label_dropped`), an index into the `label_names` metadata;
    `target` holds soft targets when the label mode has them."""
    n = len(table)
    pixels = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(PIXELS_PER_IMAGE), n, [None, pa.py_buffer(np.ascontiguousarray(table.pixels))]
    )
    columns = {
        "source_row": pa.array(table.source_row, pa.int64()),
        "emotion": pa.array(table.emotion, pa.int8()),
        "usage": pa.array(table.usage if table.usage is not None else [None] * n, pa.string()),
        "split": pa.array(splits, pa.string()),
        "image_group": pa.array(groups, pa.int32()),
        "label": pa.array(labels.label, pa.int8(), mask=~labels.kept),
        "label_dropped": pa.array(labels.dropped, pa.string(), mask=labels.kept),
        "pixels": pixels,
    }
    if labels.targets is not None:
        classes = len(labels.names)
        flat = pa.array(labels.targets.reshape(-1), pa.float32())
        # All zeros for a dropped face rather than null: Arrow cannot read null fixed-size lists back from Parquet.
        columns["target"] = pa.FixedSizeListArray.from_arrays(flat, classes)
    metadata = {**metadata, "labels": labels.mode, "label_names": json.dumps(list(labels.names))}
    arrow = pa.table(columns).replace_schema_metadata({f"ferpipe.{k}": v for k, v in metadata.items()})
    # Pixels barely compress (zstd saves under 1%), so they are stored plain for speed. Every page
    # carries a CRC, checked on read: a damaged file is refused, not converted into other faces.
    pq.write_table(arrow, path, compression="none", write_page_checksum=True)


def read_faces(path: Path) -> tuple[pa.Table, np.ndarray, dict[str, str]]:
    """The table without pixels, the (N, 2304) uint8 pixels, and the metadata written with them."""
    with reading(path, made_by="ingest"):
        arrow = pq.read_table(path, page_checksum_verification=True)
        arrow.column("pixels")
    column = arrow["pixels"].combine_chunks()
    pixels = np.frombuffer(column.buffers()[1], dtype=np.uint8)
    pixels = pixels[column.offset * PIXELS_PER_IMAGE : (column.offset + len(column)) * PIXELS_PER_IMAGE]
    metadata = {
        k.decode().removeprefix("ferpipe."): v.decode()
        for k, v in (arrow.schema.metadata or {}).items()
        if k.startswith(b"ferpipe.")
    }
    return arrow.drop_columns(["pixels"]), pixels.reshape(-1, PIXELS_PER_IMAGE), metadata
