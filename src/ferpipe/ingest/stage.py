"""Stage `ingest`: any FER2013 form → validated Parquet copy, rejected rows, data report."""

from __future__ import annotations

import csv
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ferpipe.core.config import Config, IngestConfig
from ferpipe.core.duplicates import image_groups
from ferpipe.core.faces import write_faces
from ferpipe.core.files import atomic_outputs, sha256_of, stat_signature, write_json
from ferpipe.core.paths import IngestOutputs
from ferpipe.core.schema import BadRow, DataError
from ferpipe.ingest.labels import build_labels
from ferpipe.ingest.readers import read_source, resolve_source
from ferpipe.ingest.report import (
    build_report,
    class_distribution_rows,
    plot_class_distribution,
)
from ferpipe.ingest.splits import assign_splits
from ferpipe.ingest.validate import validate

log = logging.getLogger(__name__)


def run(config: Config) -> None:
    """Stage ingest: read ingest.source in any FER2013 form, validate every row, write the data report."""
    ingest(config.ingest)


def ingest(config: IngestConfig, outputs: IngestOutputs = IngestOutputs()) -> dict:
    with atomic_outputs(*vars(outputs).values()) as staged, ThreadPoolExecutor(1) as background:
        # Checked before the source is hashed (a FIFO would block that for ever); a folder such as
        # data/raw stands for the one FER2013 file in it, which is what is hashed and recorded.
        source = resolve_source(Path(config.source))
        inputs = [source, *([Path(config.ferplus_votes)] if config.labels != "fer2013" else [])]
        before = stat_signature(*inputs)
        # Hashing the source overlaps with parsing it (hashlib releases the GIL).
        source_hash = background.submit(sha256_of, source)
        raw = read_source(source)
        log.info("read %d rows from %s (%s)", len(raw.emotion) + len(raw.unreadable), raw.source, raw.form)
        table, rejected = validate(raw, config.on_bad_rows)
        if len(table) == 0:
            first = rejected[0]
            raise DataError(
                f"{raw.source}: no valid row: all {len({r.location for r in rejected})} rows were rejected "
                f"(first: {first.location}: {first.field}: {first.reason})"
            )
        if rejected:
            log.warning("%d invalid row(s) set aside in %s", len({r.location for r in rejected}), outputs.rejected)
        splits, carve_note = assign_splits(table, config.val_fraction, config.seed)
        labels = build_labels(config.labels, config.ferplus_votes, raw, table, splits)
        sha256 = source_hash.result()
        if stat_signature(*inputs) != before:  # the outputs would mix two versions of the data
            raise DataError(
                f"{source}: changed while ingest was reading it; nothing was written. "
                "Run the stage again once the file is complete."
            )
        synthetic = raw.synthetic
        notes = [note for note in (carve_note,) if note]
        if raw.blank_lines_at_end:
            notes.append(f"{raw.blank_lines_at_end} blank line(s) at the end of {raw.source} ignored")
        if raw.ignored_files:
            notes.append(f"{len(raw.ignored_files)} non-image file(s) ignored, e.g. {raw.ignored_files[:3]}")
        if synthetic:
            notes.append("SYNTHETIC data from ferpipe's generator, not FER2013: results say nothing about real faces")
        groups = image_groups(table.pixels)
        report = build_report(
            table,
            splits,
            groups,
            rejected,
            labels,
            source={
                "path": str(source),
                "form": raw.form,
                "sha256": sha256,
                **({"ferplus_votes": config.ferplus_votes} if labels.mode != "fer2013" else {}),
            },
            synthetic=synthetic,
            notes=notes,
            blank_lines_at_end=raw.blank_lines_at_end,
        )
        write_faces(
            staged(outputs.faces),
            table,
            splits,
            groups,
            labels,
            {"source": str(source), "source_sha256": sha256, "data": report["data"], "form": raw.form},
        )
        write_rejected(staged(outputs.rejected), raw.source, rejected)
        write_json(staged(outputs.report), report)
        class_distribution_rows(report).to_csv(staged(outputs.class_table), index=False)
        plot_class_distribution(report, staged(outputs.class_plot))
    for note in notes:
        log.info("note: %s", note)
    log.info("rows per split: %s", json.dumps(report["rows"]["by_split"]))
    if labels.mode != "fer2013":
        log.info(
            "%s labels: faces kept per split %s; dropped %s",
            labels.mode,
            json.dumps(report["labels"]["kept"]),
            json.dumps(report["labels"]["dropped"]),
        )
    return report


def write_rejected(path: Path, source: str, rejected: list[BadRow]) -> None:
    with open(path, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["source", "location", "field", "reason"])
        writer.writerows([source, row.location, row.field, row.reason] for row in rejected)
