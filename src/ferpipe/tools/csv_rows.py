"""FER-format CSV rows for `ferpipe predict`, read a block at a time with the standard library and
numpy alone (the light install has no Arrow): any file with a `pixels` column, gzipped or not,
Kaggle's `test.csv` included. The ingest stage's rules, so a file reads the same either way:
every physical line is a row or is named; a line with the wrong number of fields is set aside
(it is not a row); a whole quoted field is unquoted, and quotes are not otherwise parsed; values
are bytes, so a line that is not UTF-8 is a bad row, not a failed file; blank lines that end the
file are ignored and counted, and one among the rows is a bad row.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from ferpipe.core.pixels import parse_lines

ROWS_PER_BLOCK = 256  # about 2 MB of pixel text: memory is bounded by the block, not the file


def open_bytes(path: Path) -> gzip.GzipFile | io.BufferedReader:
    return gzip.GzipFile(path, "rb") if path.suffix.lower() == ".gz" else open(path, "rb")


def data_lines(path: Path) -> int:
    """Lines after the header (a quick count, for the progress bar)."""
    with open_bytes(path) as stream:
        return sum(block.count(b"\n") for block in iter(lambda: stream.read(1 << 22), b"")) - 1


class Block:
    """Rows read: for each, its row index and its pixel text, or that it is blank."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, int, bytes | None]] = []  # (row index, line number, pixels; None: blank)

    def parsed(self) -> tuple[list[int], list[int], np.ndarray, dict[int, str]]:
        """Row indexes, line numbers, the valid rows' images and each bad row's reason (by position)."""
        indexes, lines, texts = zip(*self.rows, strict=True) if self.rows else ((), (), ())
        present = [i for i, text in enumerate(texts) if text is not None]
        images, problems = parse_lines([texts[i] or b"" for i in present])
        reasons = {present[k]: reason for k, reason in problems.items()}
        return list(indexes), list(lines), images, reasons


def csv_blocks(path: Path, set_aside: Callable[[int, str], None]) -> Iterator[Block]:
    """The rows of a CSV with a `pixels` column, ROWS_PER_BLOCK at a time; `set_aside(line, reason)` for
    each line that is not a row. ValueError ("no pixels column", "unreadable: ...") for the file."""
    try:
        with open_bytes(path) as stream:
            header = stream.readline().decode("utf-8-sig").strip("\r\n")
            names = [name.strip() for name in header.split(",")]
            if names == [""]:
                raise ValueError("unreadable: file is empty")
            if "pixels" not in names:
                raise ValueError(f"no pixels column: columns are {header.split(',')}")
            pixels = names.index("pixels")
            block, row = Block(), 0
            for line_number, line in enumerate(stream, start=2):
                fields = line.rstrip(b"\r\n").split(b",")
                if fields == [b""]:
                    fields = [b""] * len(names)  # an empty line: a row of empty fields, as the ingest reader reads it
                if len(fields) != len(names):
                    set_aside(line_number, f"{len(fields)} fields, expected {len(names)}")
                    continue
                blank = not any(fields)
                text = fields[pixels]
                if len(text) > 1 and text.startswith(b'"') and text.endswith(b'"'):
                    text = text[1:-1]
                block.rows.append((row, line_number, None if blank else text))
                row += 1
                if len(block.rows) == ROWS_PER_BLOCK:
                    yield block
                    block = Block()
            if block.rows:
                yield block
    except (EOFError, zlib.error, OSError, UnicodeDecodeError) as error:
        truncated = isinstance(error, EOFError) or "compressed" in str(error).lower() or "crc" in str(error).lower()
        reason = f"compressed data is truncated or corrupt: {error}" if truncated else str(error)
        raise ValueError(f"unreadable: cannot read ({' '.join(reason.split())[:200]})") from None
