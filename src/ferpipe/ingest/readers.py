"""One reader per form in which people have FER2013, all returning the same `RawTable`.

Forms: `fer2013.csv` (also `.csv.gz` and Kaggle's `fer2013.tar.gz`), Kaggle's
`icml_face_data.csv` and `train.csv`, and the image-folder release (`train/<class>/*.jpg`).
Readers only read; every value is checked afterwards by `validate`.

Longer than most modules because each form's reader is short but they share the CSV reading
rules (every line accounted for, bytes not text, quotes not parsed), which belong in one place.
"""

from __future__ import annotations

import gzip
import io
import re
import tarfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from PIL import Image
from tqdm import tqdm

from ferpipe.core.schema import (
    EMOTIONS,
    GENERATOR_COLUMN,
    IMAGE_SIDE,
    PIXELS_PER_IMAGE,
    USAGES,
    BadRow,
    DataError,
    RawTable,
)

# Header (column names with surrounding spaces stripped) → form name and canonical columns.
CSV_FORMS = {
    ("emotion", "pixels", "Usage"): "fer2013.csv",
    ("emotion", "Usage", "pixels"): "icml_face_data.csv",
    ("emotion", "pixels"): "train.csv",
    ("emotion", "pixels", "Usage", GENERATOR_COLUMN): "fer2013.csv written by `ferpipe synthesize`",
}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
CSV_NAMES_IN_ARCHIVE = ("fer2013.csv", "icml_face_data.csv", "train.csv")

ByteStream = io.BufferedIOBase | IO[bytes]  # an opened CSV: a file, gzip's stream, a tar member


def check_source(path: Path) -> None:
    """A source that is not a regular file or folder gets its own message (a FIFO would hang the read)."""
    if path.is_symlink() and not path.exists():
        raise DataError(f"{path}: a symbolic link that leads nowhere (its target is missing, or the links form a loop)")
    if not path.exists():
        raise DataError(
            f"{path}: no such file or folder. Place FER2013 there, or point ingest.source at it "
            "(dvc exp run -S ingest.source=PATH)."
        )
    if not (path.is_file() or path.is_dir()):
        kind = "a FIFO (named pipe)" if path.is_fifo() else "a socket" if path.is_socket() else "a device"
        raise DataError(f"{path}: {kind}, not a regular file or folder; copy the data set to a file first")


# The forms' usual file names, as a download or an extraction leaves them: what a folder is searched for.
SOURCE_NAMES = tuple(f"{name}{compressed}" for name in CSV_NAMES_IN_ARCHIVE for compressed in ("", ".gz")) + tuple(
    f"fer2013{suffix}" for suffix in ARCHIVE_SUFFIXES
)


def resolve_source(path: Path) -> Path:
    """The data a source names: a file as it is, the image release's folder (train/, test/) as it is,
    and any other folder (`data/raw`, where the real data is placed) the one FER2013 file in it."""
    check_source(path)
    if not path.is_dir() or (path / "train").is_dir() or (path / "test").is_dir():
        return path
    found = [path / name for name in SOURCE_NAMES if (path / name).is_file()]
    if len(found) == 1:
        return found[0]
    if not found:
        raise DataError(
            f"{path}: holds no FER2013 file ({', '.join(SOURCE_NAMES)}) and no train/ or test/ image folder: "
            "place one there, or name it with -S ingest.source=PATH"
        )
    raise DataError(
        f"{path}: holds {len(found)} FER2013 files ({', '.join(f.name for f in found)}): "
        f"name the one to read with -S ingest.source={found[0]}"
    )


def read_source(path: Path | str) -> RawTable:
    path = Path(path)
    check_source(path)
    if path.is_dir():
        return read_image_folder(path)
    if path.name.endswith(ARCHIVE_SUFFIXES):
        return read_archive(path)
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty")
    return read_csv(str(path), opener(path))


def opener(path: Path) -> Callable[[], ByteStream]:
    """How to open a CSV's bytes afresh, decompressing a `.gz` one."""

    def open_bytes() -> ByteStream:
        return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else open(path, "rb")

    return open_bytes


def read_archive(path: Path) -> RawTable:
    try:
        archive = tarfile.open(path)
        members = archive.getmembers()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise DataError(f"{path}: not a readable tar archive, or truncated ({error})") from None
    by_name = {Path(m.name).name: m for m in members if m.isfile()}
    for name in CSV_NAMES_IN_ARCHIVE:
        if name in by_name:
            source = f"{path}:{by_name[name].name}"
            return read_csv(source, member_opener(source, archive, by_name[name]))
    listed = ", ".join(m.name for m in members[:10]) or "nothing"
    raise DataError(f"{path}: archive holds no {' / '.join(CSV_NAMES_IN_ARCHIVE)} (it holds: {listed})")


def member_opener(source: str, archive: tarfile.TarFile, member: tarfile.TarInfo) -> Callable[[], ByteStream]:
    def open_member() -> ByteStream:
        stream = archive.extractfile(member)
        if stream is None:  # not a regular file: the caller chose regular files only
            raise DataError(f"{source}: not a regular file")
        return stream

    return open_member


def read_header(source: str, open_stream: Callable[[], ByteStream]) -> tuple[list[str], tuple[str, ...]]:
    """The header line's columns as written, and their names with surrounding spaces stripped."""
    try:
        with open_stream() as stream:
            header_line = stream.readline()
        columns = header_line.decode("utf-8-sig").strip("\r\n").split(",")
    except (EOFError, zlib.error, OSError, UnicodeDecodeError) as error:
        raise DataError(f"{source}: cannot read the header ({_describe_read_error(error)})") from None
    names = tuple(c.strip() for c in columns)
    if names == ("",):
        raise DataError(f"{source}: file is empty")
    return columns, names


def read_csv(source: str, open_stream: Callable[[], ByteStream]) -> RawTable:
    columns, names = read_header(source, open_stream)
    form = CSV_FORMS.get(names)
    if form is None:
        expected = "; ".join(f"{', '.join(h)} ({f})" for h, f in CSV_FORMS.items())
        hint = " (Kaggle's test.csv has no labels and cannot be used)" if names == ("pixels",) else ""
        raise DataError(f"{source}: line 1: unrecognised header {list(columns)}{hint}; expected one of: {expected}")

    table, skipped, skipped_lines = _read_rows(source, open_stream, names, use_threads=True)
    if skipped:
        # Only a single-threaded read knows the line number of each malformed row.
        table, skipped, skipped_lines = _read_rows(source, open_stream, names, use_threads=False)

    def locate(row: int) -> str:
        return f"line {line_of(row, skipped_lines)}"

    blank_at_end = trailing_blank_rows(table, skipped_lines)
    table = table.slice(0, table.num_rows - blank_at_end)
    if table.num_rows == 0 and not skipped:
        raise DataError(f"{source}: has a header but no data rows")

    return RawTable(
        source=source,
        form=form,
        emotion=as_text(table["emotion"]),
        pixels=table["pixels"],  # bytes, kept in chunks: combining would copy 300 MB
        usage=as_text(table["Usage"]) if "Usage" in names else None,
        locate=locate,
        unreadable=skipped,
        synthetic=GENERATOR_COLUMN in names,
        blank_lines_at_end=blank_at_end,
    )


def blank_rows(columns: list) -> np.ndarray:
    """Rows with nothing in any field: a blank line (or one of bare commas)."""
    blank = np.ones(len(columns[0]), dtype=bool)
    for column in columns:  # lengths only: the pixel column is not copied
        blank &= pc.fill_null(pc.equal(pc.binary_length(column), 0), True).to_numpy(zero_copy_only=False)
    return blank


def trailing_blank_rows(table: pa.Table, skipped_lines: list[int]) -> int:
    """How many blank rows end the file, after its last line of any other kind."""
    if table.num_rows == 0:
        return 0
    blank = blank_rows(table.columns)
    count = int(np.argmin(blank[::-1])) if not blank.all() else len(blank)
    if count and skipped_lines and max(skipped_lines) > line_of(table.num_rows - count, skipped_lines):
        return 0  # a malformed line follows them: they are not the end of the file
    return count


def _read_rows(
    source: str, open_stream: Callable[[], ByteStream], names: tuple[str, ...], use_threads: bool
) -> tuple[pa.Table, list[BadRow], list[int]]:
    """Every physical line after the header as one row of bytes; lines with the wrong number of
    fields are set aside with their line number, so rows + set-aside lines = lines read.

    FER2013 files hold no quoted commas or line breaks, so quotes are not parsed: a stray `"`
    cannot swallow the lines after it (a whole quoted field, as in Kaggle's train.csv, is
    unquoted afterwards). Values are bytes, so a line that is not UTF-8 is a bad row, not a
    failed file; a line longer than a read block gets a second read with one large block.
    """
    skipped: list[BadRow] = []
    skipped_lines: list[int] = []

    def keep_invalid_row(row: pacsv.InvalidRow) -> str:
        skipped_lines.append(row.number or 0)
        where = f"line {row.number}" if row.number else f"row {row.text[:30]!r}"
        skipped.append(BadRow(where, "row", f"{row.actual_columns} fields, expected {row.expected_columns}"))
        return "skip"

    def read(block_size: int) -> pa.Table:
        skipped.clear()
        skipped_lines.clear()
        with open_stream() as stream:
            return pacsv.read_csv(stream, **csv_options(names, keep_invalid_row, block_size, use_threads))

    try:
        try:
            table = read(BLOCK_SIZE)
        except pa.ArrowInvalid as error:
            if not is_line_too_long(error):
                raise
            table = read(LONG_LINE_BLOCK_SIZE)  # a line over a block: read whole, then rejected by validation
    except (EOFError, zlib.error, OSError, pa.ArrowInvalid) as error:
        raise DataError(f"{source}: cannot read ({_describe_read_error(error)})") from None
    return pa.table({name: unquoted(table[name]) for name in names}), skipped, sorted(skipped_lines)


BLOCK_SIZE = 1 << 20
LONG_LINE_BLOCK_SIZE = 1 << 30


def csv_options(
    names: tuple[str, ...], on_invalid_row: Callable[[pacsv.InvalidRow], str], block_size: int, use_threads: bool
) -> dict:
    """pyarrow's options for the reading rules above: no quotes, bytes, every line a row."""
    return {
        "read_options": pacsv.ReadOptions(
            skip_rows=1, column_names=list(names), use_threads=use_threads, block_size=block_size
        ),
        "parse_options": pacsv.ParseOptions(
            quote_char=False, invalid_row_handler=on_invalid_row, ignore_empty_lines=False
        ),
        "convert_options": pacsv.ConvertOptions(column_types={n: pa.binary() for n in names}),
    }


def is_line_too_long(error: pa.ArrowInvalid) -> bool:
    """pyarrow's complaint about a row that does not fit in one read block."""
    return "straddl" in str(error)


def line_of(row: int, skipped_lines: list[int]) -> int:
    """The line of data row `row` (0-based), given the sorted lines set aside before it."""
    line = row + 2  # line 1 is the header
    for skipped_line in skipped_lines:
        if skipped_line <= line:
            line += 1
    return line


def unquoted(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Values written as a whole quoted field ("70 80 ..."), without their quotes."""
    if not pc.any(pc.starts_with(column, '"')).as_py():
        return column
    return pc.replace_substring_regex(column, pattern=r'^"([^"]*)"$', replacement=r"\1")


def as_text(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A short bytes column (labels, Usage) as text; bytes that are not UTF-8 become U+FFFD, so
    validation shows and rejects that row rather than the file failing to read."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    try:
        return column.cast(pa.string())
    except pa.ArrowInvalid:
        return pa.array([None if v is None else v.decode("utf-8", "replace") for v in column.to_pylist()], pa.string())


def _describe_read_error(error: Exception) -> str:
    text = str(error)
    if isinstance(error, EOFError) or re.search(r"truncat|end of (stream|file)|inflate|crc", text, re.I):
        return f"compressed data is truncated or corrupt: {text}"
    return text


def read_image_folder(root: Path) -> RawTable:
    """The image release: `<root>/{train,test}/<class>/*.{jpg,png}`, 48x48 grey faces."""
    split_dirs = [d for d in (root / "train", root / "test") if d.is_dir()]
    if not split_dirs:
        raise DataError(f"{root}: folder has neither train/ nor test/ (expected train/<class>/*.jpg)")
    files: list[tuple[Path, int, str]] = []
    ignored: list[str] = []
    for split_dir in split_dirs:
        for class_dir in sorted(p for p in split_dir.iterdir()):
            if not class_dir.is_dir():
                ignored.append(str(class_dir.relative_to(root)))
                continue
            if class_dir.name not in EMOTIONS:
                raise DataError(
                    f"{class_dir}: unknown class folder {class_dir.name!r}; expected one of {list(EMOTIONS)}"
                )
            for file in sorted(class_dir.iterdir()):
                if file.suffix.lower() in IMAGE_SUFFIXES and file.is_file():
                    files.append((file, EMOTIONS.index(class_dir.name), _usage_of(file, split_dir.name)))
                else:
                    ignored.append(str(file.relative_to(root)))
    if not files:
        raise DataError(f"{root}: no .jpg or .png images under train/<class>/ or test/<class>/")

    images = np.zeros((len(files), PIXELS_PER_IMAGE), dtype=np.uint8)
    unreadable: list[BadRow] = []
    readable = np.ones(len(files), dtype=bool)
    for i, (file, _, _) in enumerate(tqdm(files, desc="reading images", unit="img", mininterval=2)):
        try:
            images[i] = _load_face(file)
        except ValueError as problem:
            unreadable.append(BadRow(str(file.relative_to(root)), "image", str(problem)))
            readable[i] = False
    kept = [f for f, ok in zip(files, readable, strict=True) if ok]
    relative = [str(f.relative_to(root)) for f, _, _ in kept]
    return RawTable(
        source=str(root),
        form="image folder",
        emotion=pa.array([str(label) for _, label, _ in kept], pa.string()),
        pixels=images[readable],
        usage=pa.array([usage for _, _, usage in kept], pa.string()),
        locate=relative.__getitem__,
        unreadable=unreadable,
        ignored_files=ignored,
    )


def _usage_of(file: Path, split_dir: str) -> str:
    for usage in USAGES:
        if file.name.startswith(f"{usage}_"):
            return usage
    return "Training" if split_dir == "train" else "PrivateTest"


def _load_face(file: Path) -> np.ndarray:
    try:
        with Image.open(file) as image:
            if image.size != (IMAGE_SIDE, IMAGE_SIDE):
                raise ValueError(f"image is {image.size[0]}x{image.size[1]}, expected {IMAGE_SIDE}x{IMAGE_SIDE}")
            return np.asarray(image.convert("L"), dtype=np.uint8).reshape(-1)
    except (OSError, Image.DecompressionBombError, SyntaxError) as error:
        raise ValueError(f"not a readable image ({error})") from None
