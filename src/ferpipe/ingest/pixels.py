"""FER2013's pixel strings in an Arrow column, parsed by the shared kernel (`ferpipe.core.pixels`)
on the column's own string buffer, a block of rows per thread."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa

from ferpipe.core.pixels import describe_pixel_problem, parse_text
from ferpipe.core.schema import PIXELS_PER_IMAGE

ROWS_PER_BLOCK = 128  # about 1 MB of text: every pass over a block stays in the CPU cache


def parse_pixel_strings(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, dict[int, str]]:
    """Parse a string column into uint8 images of PIXELS_PER_IMAGE values each.

    Returns the images of the valid rows (in order, shape (n_valid, 2304)) and, for every
    invalid row, its index in `column` mapped to a human-readable reason.
    """
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    if not all(
        pa.types.is_string(c.type)
        or pa.types.is_large_string(c.type)
        or pa.types.is_binary(c.type)
        or pa.types.is_large_binary(c.type)
        for c in chunks
    ):
        raise TypeError(f"pixel strings or bytes expected, got {column.type}")
    n = len(column)
    images = np.empty((n, PIXELS_PER_IMAGE), dtype=np.uint8)
    valid = np.ones(n, dtype=bool)
    blocks, first_row = [], 0
    for chunk in chunks:
        blocks += [(chunk.slice(i, ROWS_PER_BLOCK), first_row + i) for i in range(0, len(chunk), ROWS_PER_BLOCK)]
        first_row += len(chunk)

    def parse(block_and_start: tuple[pa.Array, int]) -> None:
        block, start = block_and_start
        rows = slice(start, start + len(block))
        valid[rows] = _parse_block(block, images[rows])

    # numpy releases the GIL in these kernels, so blocks parse in parallel on threads.
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        list(pool.map(parse, blocks))
    problems = {int(i): describe_pixel_problem(column[int(i)].as_py()) for i in np.flatnonzero(~valid)}
    return images[valid], problems


def _parse_block(block: pa.StringArray | pa.LargeStringArray, out: np.ndarray) -> np.ndarray:
    """Decode one block of the column into `out`; a mask of the rows that parsed cleanly."""
    n = len(block)
    _, offsets_buffer, data_buffer = block.buffers()
    offset_type = np.int64 if pa.types.is_large_string(block.type) or pa.types.is_large_binary(block.type) else np.int32
    offsets = np.frombuffer(offsets_buffer, dtype=offset_type)[block.offset : block.offset + n + 1].astype(np.int64)
    text = (
        np.frombuffer(data_buffer, dtype=np.uint8)[offsets[0] : offsets[-1]] if data_buffer else np.empty(0, np.uint8)
    )
    offsets -= offsets[0]
    present = ~block.is_null().to_numpy(zero_copy_only=False) if block.null_count else None
    return parse_text(text, offsets, out, present)
