"""Fast, exact parsing of FER2013's pixel strings ("70 80 82 ... 2304 integers").

The seed notebook split every row in Python (about a minute for the full file). Here the
digits of a whole block of rows are decoded at once with numpy on the raw Arrow string
buffer, and only rows that fail the fast checks are re-read in Python to explain exactly
what is wrong with them.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa

from ferpipe.core.schema import PIXELS_PER_IMAGE

ROWS_PER_BLOCK = 128  # about 1 MB of text: every pass over a block stays in the CPU cache
_SPACE = ord(" ")


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


class _Scratch(threading.local):
    """Per-thread work buffers, reused across blocks: fresh megabyte-sized temporaries for
    every block made the allocator map and fault in new pages each time, doubling the parse
    time."""

    NAMES = ("digit", "is_digit", "space", "row_start", "ends", "continues", "low", "three", "hundreds", "four")

    def take(self, size: int) -> dict[str, np.ndarray]:
        if getattr(self, "size", -1) < size:
            self.size = max(size, 2 * getattr(self, "size", 0))
            self.buffers = {name: np.empty(self.size + 1, dtype=np.uint8) for name in self.NAMES}
        return {name: buffer[: size + 1 if name == "row_start" else size] for name, buffer in self.buffers.items()}


_scratch = _Scratch()


def _parse_block(block: pa.StringArray | pa.LargeStringArray, out: np.ndarray) -> np.ndarray:
    """Decode one block into `out`; return a mask of the rows that parsed cleanly.

    Every pass is a same-dtype uint8 kernel on a reused buffer. A token's value is assembled
    at its last digit p from the digits at p-1 and p-2 when they belong to the same token,
    then read off at the token ends. Rows sit back to back in the buffer, so a row start
    also separates tokens.
    """
    n = len(block)
    _, offsets_buffer, data_buffer = block.buffers()
    offset_type = np.int64 if pa.types.is_large_string(block.type) or pa.types.is_large_binary(block.type) else np.int32
    offsets = np.frombuffer(offsets_buffer, dtype=offset_type)[block.offset : block.offset + n + 1].astype(np.int64)
    text = (
        np.frombuffer(data_buffer, dtype=np.uint8)[offsets[0] : offsets[-1]] if data_buffer else np.empty(0, np.uint8)
    )
    offsets -= offsets[0]
    row_ok = np.ones(n, dtype=bool)
    if block.null_count:
        row_ok &= ~block.is_null().to_numpy(zero_copy_only=False)
    if len(text) == 0:
        return row_ok & False

    b = _scratch.take(len(text))
    digit = np.subtract(text, np.uint8(ord("0")), out=b["digit"])  # wraps below '0'
    is_digit = np.less(digit, 10, out=b["is_digit"].view(bool)).view(np.uint8)
    space = np.equal(text, _SPACE, out=b["space"].view(bool))
    if np.count_nonzero(is_digit) + np.count_nonzero(space) != len(text):
        stray = np.flatnonzero((is_digit == 0) & ~space)
        row_ok[np.searchsorted(offsets, stray, side="right") - 1] = False

    row_start = b["row_start"]
    row_start.fill(0)
    row_start[offsets] = 1
    ends = b["ends"]  # 1 at the last digit of a token
    np.bitwise_xor(is_digit[1:], 1, out=ends[:-1])
    ends[-1] = 1
    np.bitwise_or(ends, row_start[1:], out=ends)
    np.bitwise_and(ends, is_digit, out=ends)
    token_ends = np.flatnonzero(ends)
    tokens_per_row = np.diff(np.searchsorted(token_ends, offsets))
    row_ok &= tokens_per_row == PIXELS_PER_IMAGE

    np.multiply(digit, is_digit, out=digit)  # 0 wherever there is no digit
    continues = b["continues"]  # 1 where byte p-1 is a digit of the same token as byte p
    continues[0] = 0
    np.bitwise_xor(row_start[1:-1], 1, out=continues[1:])
    np.bitwise_and(continues[1:], is_digit[:-1], out=continues[1:])
    low = b["low"]  # ones + 10 * tens, at most 99
    low[0] = digit[0]
    np.multiply(digit[:-1], continues[1:], out=low[1:])
    np.multiply(low[1:], 10, out=low[1:])
    np.add(low[1:], digit[1:], out=low[1:])
    three = b["three"]  # bytes p-1 and p-2 are both in p's token
    three[0] = 0
    np.bitwise_and(continues[1:], continues[:-1], out=three[1:])
    hundreds = b["hundreds"]
    hundreds[:2] = 0
    np.multiply(digit[:-2], three[2:], out=hundreds[2:])
    four = b["four"]  # a fourth digit: never valid
    four[:2] = 0
    np.bitwise_and(three[2:], continues[:-2], out=four[2:])

    # Integer take: much faster than boolean-mask indexing here.
    low, hundreds, four = low.take(token_ends), hundreds.take(token_ends), four.take(token_ends).view(bool)
    out_of_range = four | (hundreds > 2) | ((hundreds == 2) & (low > 55))
    if out_of_range.any():
        row_ok[np.searchsorted(offsets, token_ends[out_of_range], side="right") - 1] = False
    values = hundreds * np.uint8(100) + low  # wraps only where out of range

    good_tokens = np.repeat(row_ok, tokens_per_row)
    out[row_ok] = values[good_tokens].reshape(-1, PIXELS_PER_IMAGE)
    return row_ok


def describe_pixel_problem(value: str | bytes | None) -> str:
    """Explain, for a person, why one pixel string is not a valid 48x48 image."""
    text = value.decode("latin-1") if isinstance(value, bytes) else value  # one character per byte
    if text is None or not text.strip(" "):
        return "pixels: empty"
    tokens = [token for token in text.split(" ") if token]
    for position, token in enumerate(tokens, start=1):
        if not (token.isascii() and token.isdigit()):
            char = next(c for c in token if not "0" <= c <= "9")
            what = (
                f"byte 0x{ord(char):02x}"
                if isinstance(value, bytes) and ord(char) > 0x7E
                else {"\t": "a tab", "\r": "a carriage return"}.get(char, repr(char))
            )
            return (
                f"pixels: value {position} is {token[:20]!r}: {what} is not a digit; "
                "expected integers 0..255 separated by spaces"
            )
        if len(token) > 3 or int(token) > 255:
            return f"pixels: value {position} is {token[:20]}, outside 0..255"
    if len(tokens) != PIXELS_PER_IMAGE:
        return f"pixels: {len(tokens)} values, expected {PIXELS_PER_IMAGE} (48x48)"
    return "pixels: unreadable"  # the fast parser and this explanation disagree: report, never drop
