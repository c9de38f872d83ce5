"""FER+ labels: Microsoft's ten-annotator relabelling of the FER2013 images (`fer2013new.csv`).

The vote file has one row per fer2013.csv row, in the same order: Usage, an image name, and
vote counts for neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown
and NF (not a face). Labels are built as the FER+ authors built theirs (Barsoum et al., 2016,
and their released preprocessing):

- a count of one vote is an outlier and is dropped before anything else;
- majority: the emotion with more than half of the remaining votes; faces without one are
  dropped ("no clear majority");
- probability: the top emotions, at most three, taken in order until they hold at least 75%
  of the votes, normalised to a distribution; dropped if they hold no more than half of the
  votes, or if ties make them more than three;
- in both modes a face whose winner is `unknown` or `NF` is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ferpipe.core.schema import FERPLUS_CLASSES, VOTE_COLUMNS

UNKNOWN, NOT_A_FACE = len(FERPLUS_CLASSES), len(FERPLUS_CLASSES) + 1

DROP_REASONS = ("no clear majority", "mostly unknown", "not a face")


@dataclass(frozen=True)
class FerPlusLabels:
    keep: np.ndarray  # bool per row
    targets: np.ndarray  # (rows, 8) float: one-hot (majority) or the vote distribution (probability); 0 where dropped
    reasons: np.ndarray  # str per row: why it is dropped, "" when kept
    dropped: dict[str, int]  # reason -> rows


class VoteFileError(ValueError):
    """The vote file does not line up with the images."""


def read_votes(path: Path | str) -> tuple[np.ndarray, np.ndarray]:
    """Usage per row and the (rows, 10) vote counts."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pv

    path = Path(path)
    try:
        table = pv.read_csv(
            path, convert_options=pv.ConvertOptions(column_types=dict.fromkeys(VOTE_COLUMNS, pa.string()))
        )
    except (OSError, ValueError) as error:
        raise VoteFileError(f"{path}: cannot read the FER+ vote file: {error}") from None
    missing = [c for c in ("Usage", *VOTE_COLUMNS) if c not in table.column_names]
    if missing:
        raise VoteFileError(
            f"{path}: header lacks column(s) {missing}; expected Usage, Image name, {', '.join(VOTE_COLUMNS)}"
        )
    for column in VOTE_COLUMNS:
        whole = pc.fill_null(pc.match_substring_regex(pc.utf8_trim_whitespace(table[column]), r"^\d+$"), False)
        bad = np.flatnonzero(~whole.to_numpy(zero_copy_only=False))
        if len(bad):
            raise VoteFileError(
                f"{path}: line {bad[0] + 2}, field {column}: {table[column][int(bad[0])].as_py()!r} "
                f"is not a vote count (a whole number >= 0); {len(bad)} such row(s)"
            )
    votes = np.column_stack([pc.cast(pc.utf8_trim_whitespace(table[c]), pa.int64()).to_numpy() for c in VOTE_COLUMNS])
    return np.asarray(pc.utf8_trim_whitespace(table["Usage"]).to_pylist(), dtype=object), votes


def check_alignment(path: Path | str, vote_usage: np.ndarray, image_usage: np.ndarray) -> None:
    """The vote file must have one row per image, with the same Usage, in the same order."""
    if len(vote_usage) != len(image_usage):
        raise VoteFileError(
            f"{path}: {len(vote_usage)} vote rows for {len(image_usage)} images; "
            "it must be the FER+ file of this very fer2013.csv, one row per image"
        )
    differ = np.flatnonzero(vote_usage != image_usage)
    if len(differ):
        row = int(differ[0])
        raise VoteFileError(
            f"{path}: line {row + 2}, field Usage: {str(vote_usage[row])!r} but the image row says "
            f"{str(image_usage[row])!r} ({len(differ)} rows differ); the files are not in the same order"
        )


def ferplus_labels(votes: np.ndarray, mode: str) -> FerPlusLabels:
    """FER+ targets over the 8 classes from (rows, 10) vote counts, mode `majority` or `probability`."""
    counts = np.where(votes > 1, votes, 0).astype(float)  # a single vote is an outlier
    if mode == "majority":
        selected = _majority(counts)
    elif mode == "probability":
        selected = np.array([_top_share(row) for row in counts])
    else:
        raise ValueError(f"ingest.labels: unknown FER+ mode {mode!r}; known: majority, probability")
    totals = selected.sum(axis=1)
    winner = selected.argmax(axis=1)
    reason = np.full(len(votes), "", dtype=object)
    reason[totals == 0] = "no clear majority"
    reason[(totals > 0) & (winner == UNKNOWN)] = "mostly unknown"
    reason[(totals > 0) & (winner == NOT_A_FACE)] = "not a face"
    keep = reason == ""
    targets = np.zeros((len(votes), len(FERPLUS_CLASSES)))
    emotions = selected[keep, : len(FERPLUS_CLASSES)]
    targets[keep] = emotions / emotions.sum(axis=1, keepdims=True)
    return FerPlusLabels(keep, targets, reason, {r: int((reason == r).sum()) for r in DROP_REASONS})


def _majority(counts: np.ndarray) -> np.ndarray:
    top = counts.max(axis=1)
    clear = top > counts.sum(axis=1) / 2
    selected = np.zeros_like(counts)
    rows = np.flatnonzero(clear)
    selected[rows, counts[rows].argmax(axis=1)] = top[rows]
    return selected


def _top_share(counts: np.ndarray) -> np.ndarray:
    """The top classes of one face, taken in order (ties together), at most three, until they hold 75%."""
    total, remaining = counts.sum(), counts.copy()
    selected = np.zeros_like(counts)
    while total and selected.sum() < 0.75 * total and np.count_nonzero(selected) < 3:
        top = remaining.max()
        tied = np.flatnonzero(remaining == top)
        emotions = tied[tied < UNKNOWN]
        if len(emotions) < len(tied):  # unknown or not-a-face among the top: the search ends here
            if selected.any() or len(emotions):
                selected[emotions] = top  # the emotions taken so far stand without it
            else:
                selected[tied] = top  # it is the winner: the face is dropped
            break
        selected[tied] = top
        remaining[tied] = 0
    if selected.sum() <= 0.5 * total or np.count_nonzero(selected) > 3:
        return np.zeros_like(counts)
    return selected
