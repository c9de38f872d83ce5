"""Fast, exact parsing of FER2013's pixel strings ("70 80 82 ... 2304 integers"), shared by the
ingest stage (on Arrow's string buffers) and `ferpipe predict`'s CSV reader (on the lines it reads).

The seed notebook split every row in Python (about a minute for the full file). Here the
digits of a whole block of rows are decoded at once with numpy on the raw bytes, and only rows
that fail the fast checks are re-read in Python to explain exactly what is wrong with them.
"""

from __future__ import annotations

import threading

import numpy as np

from ferpipe.core.schema import PIXELS_PER_IMAGE

_SPACE = ord(" ")


def parse_lines(values: list[bytes]) -> tuple[np.ndarray, dict[int, str]]:
    """Pixel strings (bytes, one per row) into uint8 images of the valid rows, shape (n_valid, 2304),
    and each invalid row's index mapped to a human-readable reason."""
    offsets = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum([len(value) for value in values], out=offsets[1:])
    text = np.frombuffer(b"".join(values), dtype=np.uint8)
    images = np.empty((len(values), PIXELS_PER_IMAGE), dtype=np.uint8)
    valid = parse_text(text, offsets, images)
    return images[valid], {int(i): describe_pixel_problem(values[int(i)]) for i in np.flatnonzero(~valid)}


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


def parse_text(text: np.ndarray, offsets: np.ndarray, out: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
    """Decode rows of pixel text (uint8 bytes, row i at text[offsets[i]:offsets[i+1]]) into `out`;
    return a mask of the rows that parsed cleanly (`present`: rows that exist at all, when some are null).

    Every pass is a same-dtype uint8 kernel on a reused buffer. A token's value is assembled
    at its last digit p from the digits at p-1 and p-2 when they belong to the same token,
    then read off at the token ends. Rows sit back to back in the buffer, so a row start
    also separates tokens.
    """
    n = len(offsets) - 1
    row_ok = np.ones(n, dtype=bool) if present is None else present.copy()
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
