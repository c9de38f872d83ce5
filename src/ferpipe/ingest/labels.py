"""The labels a run trains and is evaluated on (`ingest.labels`): FER2013's own, or FER+'s.

- `fer2013`: the 7 original labels, every face kept.
- `ferplus_majority` / `ferplus_probability`: the 8 FER+ classes from the ten-annotator vote
  file (`ingest.ferplus_votes`), built by ferpipe.ingest.ferplus. Training faces get the mode's
  targets (one-hot majority, or the vote distribution); validation and test faces always get
  the majority label, as the FER+ authors evaluate, so models trained either way are compared
  on the same faces. Dropped faces stay in the validated table with their reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow.compute as pc

from ferpipe.core.schema import (
    EMOTIONS,
    FERPLUS_CLASSES,
    DataError,
    FaceTable,
    Labels,
    RawTable,
)
from ferpipe.ingest import ferplus

MODES = ("fer2013", "ferplus_majority", "ferplus_probability")


def build_labels(mode: str, votes_path: str, raw: RawTable, table: FaceTable, splits: np.ndarray) -> Labels:
    if mode == "fer2013":
        return Labels(mode, EMOTIONS, table.emotion.astype(np.int64), np.full(len(table), "", dtype=object), None)
    if mode not in MODES:
        raise DataError(f"ingest.labels: unknown mode {mode!r}; known: {', '.join(MODES)}")
    if not votes_path:
        raise DataError(f"ingest.labels: {mode} needs the FER+ vote file (fer2013new.csv) in ingest.ferplus_votes")
    if raw.usage is None or raw.unreadable:
        raise DataError(
            f"{raw.source}: FER+ votes line up with fer2013.csv row by row; this source "
            f"({raw.form}{', with unreadable rows' if raw.unreadable else ''}) cannot be matched to them"
        )
    if not Path(votes_path).is_file():
        raise DataError(f"{votes_path}: FER+ vote file not found (ingest.ferplus_votes)")
    try:
        usage, votes = ferplus.read_votes(votes_path)
        ferplus.check_alignment(
            votes_path, usage, np.asarray(pc.utf8_trim_whitespace(raw.usage).to_pylist(), dtype=object)
        )
    except ferplus.VoteFileError as error:
        raise DataError(str(error)) from None
    votes = votes[table.source_row]
    # Training faces get the mode's targets; val and test faces the majority label, as FER+ evaluates.
    trained = ferplus.ferplus_labels(votes, mode.removeprefix("ferplus_"))
    judged = trained if mode == "ferplus_majority" else ferplus.ferplus_labels(votes, "majority")
    is_train = (splits == "train")[:, None]
    targets = np.where(is_train, trained.targets, judged.targets).astype(np.float32)
    keep = np.where(is_train[:, 0], trained.keep, judged.keep)
    reasons = np.where(is_train[:, 0], trained.reasons, judged.reasons)
    label = np.where(keep, targets.argmax(axis=1), -1)
    return Labels(mode, FERPLUS_CLASSES, label, reasons, targets if mode == "ferplus_probability" else None)


def dropped_by_split(labels: Labels, splits: np.ndarray, split_names: Sequence[str]) -> dict[str, dict[str, int]]:
    """{split: {reason: faces}} for the reasons that dropped any face."""
    counts = {}
    for split in split_names:
        reasons, numbers = np.unique(labels.dropped[(splits == split) & ~labels.kept].astype(str), return_counts=True)
        counts[split] = {str(r): int(n) for r, n in zip(reasons, numbers, strict=True)}
    return counts
