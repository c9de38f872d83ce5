"""Fast, exact parsing of FER2013's pixel strings ("70 80 82 ... 2304 integers").

The seed notebook split every row in Python (about a minute for the full file). Here the
digits of a whole block of rows are decoded at once with numpy on the raw Arrow string
buffer, and only rows that fail the fast checks are re-read in Python to explain exactly
what is wrong with them.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa

from ferpipe.data.schema import PIXELS_PER_IMAGE

ROWS_PER_BLOCK = 2048  # about 17 MB of text per block keeps peak memory low
_SPACE = ord(" ")


def parse_pixel_strings(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, dict[int, str]]:
    """Parse a string column into uint8 images of PIXELS_PER_IMAGE values each.

    Returns the images of the valid rows (in order, shape (n_valid, 2304)) and, for every
    invalid row, its index in `column` mapped to a human-readable reason.
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks else pa.array([], pa.string())
    column = column.cast(pa.large_string())
    n = len(column)
    images = np.empty((n, PIXELS_PER_IMAGE), dtype=np.uint8)
    valid = np.ones(n, dtype=bool)

    def parse(start: int) -> None:
        block = column.slice(start, ROWS_PER_BLOCK)
        valid[start : start + len(block)] = _parse_block(block, images[start : start + len(block)])

    # numpy releases the GIL in these kernels, so blocks parse in parallel on threads.
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        list(pool.map(parse, range(0, n, ROWS_PER_BLOCK)))
    problems = {int(i): describe_pixel_problem(column[int(i)].as_py()) for i in np.flatnonzero(~valid)}
    return images[valid], problems


def _parse_block(block: pa.LargeStringArray, out: np.ndarray) -> np.ndarray:
    """Decode one block into `out`; return a mask of the rows that parsed cleanly."""
    n = len(block)
    _, offsets_buffer, data_buffer = block.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[block.offset : block.offset + n + 1]
    text = np.frombuffer(data_buffer, dtype=np.uint8)[offsets[0] : offsets[-1]] if data_buffer else np.empty(0, np.uint8)
    offsets = offsets - offsets[0]
    row_ok = np.ones(n, dtype=bool)
    if block.null_count:
        row_ok &= ~block.is_null().to_numpy(zero_copy_only=False)

    digit = text - np.uint8(ord("0"))  # wraps below '0', so `< 10` tests for a digit
    is_digit = digit < 10
    stray = np.flatnonzero(~is_digit & (text != _SPACE))
    if len(stray):
        row_ok[np.searchsorted(offsets, stray, side="right") - 1] = False
    # Rows sit back to back in the buffer, so tokens also start at each row start and end at
    # each row end.
    starts = np.empty_like(is_digit)
    ends = np.empty_like(is_digit)
    if len(text):
        starts[0], ends[-1] = is_digit[0], is_digit[-1]
        np.greater(is_digit[1:], is_digit[:-1], out=starts[1:])
        np.greater(is_digit[:-1], is_digit[1:], out=ends[:-1])
        inner_row_starts = offsets[1:-1][offsets[1:-1] < len(text)]
        starts[inner_row_starts] = is_digit[inner_row_starts]
        ends[inner_row_starts - 1] = is_digit[inner_row_starts - 1]
    token_starts = np.flatnonzero(starts)
    token_ends = np.flatnonzero(ends)
    token_length = token_ends - token_starts + 1
    tokens_per_row = np.diff(np.searchsorted(token_starts, offsets))
    row_ok &= tokens_per_row == PIXELS_PER_IMAGE

    # Tokens have at most 3 digits when valid; the byte before a shorter token's first digit
    # is masked out by its length (it may be the previous row's last digit).
    digit_value = np.where(is_digit, digit, 0).astype(np.uint16)
    values = digit_value[token_ends]
    values += 10 * digit_value[token_ends - 1] * (token_length >= 2)
    values += 100 * digit_value[token_ends - 2] * (token_length >= 3)
    out_of_range = (values > 255) | (token_length > 3)
    if out_of_range.any():
        row_ok[np.searchsorted(offsets, token_starts[out_of_range], side="right") - 1] = False

    good_tokens = np.repeat(row_ok, tokens_per_row)
    out[row_ok] = values[good_tokens].reshape(-1, PIXELS_PER_IMAGE)
    return row_ok


def describe_pixel_problem(text: str | None) -> str:
    """Explain, for a person, why one pixel string is not a valid 48x48 image."""
    if text is None or not text.strip():
        return "pixels: empty"
    tokens = text.split()
    for position, token in enumerate(tokens, start=1):
        if not token.isdigit() or not token.isascii():
            return f"pixels: value {position} is {token[:20]!r}, not an integer 0..255"
        if len(token) > 3 or int(token) > 255:
            return f"pixels: value {position} is {token[:20]}, outside 0..255"
    if len(tokens) != PIXELS_PER_IMAGE:
        return f"pixels: {len(tokens)} values, expected {PIXELS_PER_IMAGE} (48x48)"
    return "pixels: unreadable"  # the fast parser and this explanation disagree: report, never drop
