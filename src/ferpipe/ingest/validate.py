"""Every row checked: a label 0..6, a known Usage, exactly 2304 integers 0..255.

A bad row is never dropped silently: it either stops ingest (the default) or is kept, with
its reason, in the rejected-rows file and the data report (`ingest.on_bad_rows: skip`).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ferpipe.core.schema import EMOTIONS, USAGES, BadRow, DataError, FaceTable, RawTable
from ferpipe.ingest.pixels import parse_pixel_strings
from ferpipe.ingest.readers import blank_rows

ERRORS_SHOWN = 5


def validate(raw: RawTable, on_bad_rows: str = "fail") -> tuple[FaceTable, list[BadRow]]:
    n = len(raw.emotion)
    problems: dict[int, list[tuple[str, str]]] = defaultdict(list)

    labels = pc.utf8_trim_whitespace(raw.emotion)
    label_ok = pc.fill_null(pc.is_in(labels, value_set=pa.array([str(i) for i in range(len(EMOTIONS))])), False)
    for i in np.flatnonzero(~label_ok.to_numpy(zero_copy_only=False)):
        problems[int(i)].append(("emotion", f"{_shown(raw.emotion[int(i)].as_py())} is not a label 0..6"))

    usage = None
    if raw.usage is not None:
        usage_text = pc.utf8_trim_whitespace(raw.usage)
        usage_ok = pc.fill_null(pc.is_in(usage_text, value_set=pa.array(USAGES)), False)
        for i in np.flatnonzero(~usage_ok.to_numpy(zero_copy_only=False)):
            problems[int(i)].append(("Usage", f"{_shown(raw.usage[int(i)].as_py())} is not one of {', '.join(USAGES)}"))
        usage = usage_text.to_numpy(zero_copy_only=False)

    if isinstance(raw.pixels, np.ndarray):
        pixels, pixel_ok = raw.pixels, np.ones(n, dtype=bool)
    else:
        pixels, pixel_problems = parse_pixel_strings(raw.pixels)
        pixel_ok = np.ones(n, dtype=bool)
        for row, reason in pixel_problems.items():
            pixel_ok[row] = False
            field, _, detail = reason.partition(": ")
            problems[row].append((field, detail))

    if problems and not isinstance(raw.pixels, np.ndarray):
        # A blank line is one problem, not an empty value in each of its fields.
        columns = [raw.emotion, raw.pixels, *([raw.usage] if raw.usage is not None else [])]
        for i in np.flatnonzero(blank_rows(columns)):
            problems[int(i)] = [("row", "blank line (no values)")]

    bad_rows = sorted(
        list(raw.unreadable)
        + [BadRow(raw.locate(i), field, reason) for i in sorted(problems) for field, reason in problems[i]],
        key=in_source_order,
    )
    if bad_rows and on_bad_rows != "skip":
        raise DataError(describe_bad_rows(raw.source, bad_rows))

    keep = np.ones(n, dtype=bool)
    keep[list(problems)] = False
    table = FaceTable(
        source_row=np.flatnonzero(keep),
        emotion=pc.cast(labels.filter(pa.array(keep)), pa.int8()).to_numpy(),
        usage=usage[keep] if usage is not None else None,
        pixels=pixels[keep[pixel_ok]],
    )
    return table, bad_rows


def in_source_order(row: BadRow) -> tuple:
    """Lines by number (line 52 before line 123), then other locations (image files) by name."""
    kind, _, number = row.location.partition(" ")
    return (0, int(number), "") if kind == "line" and number.isdigit() else (1, 0, row.location)


def describe_bad_rows(source: str, bad_rows: list[BadRow]) -> str:
    rows = len({row.location for row in bad_rows})
    lines = [f"{source}: {rows} invalid row(s); the first {min(ERRORS_SHOWN, len(bad_rows))}:"]
    lines += [f"  {source}: {row.location}: {row.field}: {row.reason}" for row in bad_rows[:ERRORS_SHOWN]]
    lines.append(
        "Fix the file, or set ingest.on_bad_rows: skip in params.yaml to set these rows aside "
        "(they are listed with their reasons in the rejected-rows file and counted in the data report)."
    )
    return "\n".join(lines)


def _shown(value: str | None) -> str:
    if value is None or value == "":
        return "empty"
    return repr(value if len(value) <= 20 else value[:20] + "…")
