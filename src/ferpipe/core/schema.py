"""The FER2013 conventions every stage relies on, and the tables that pass between ingest's steps."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the tables' types only: what predicts (the light install) has no Arrow
    import pyarrow as pa

EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
USAGES = ("Training", "PublicTest", "PrivateTest")
SPLITS = ("train", "val", "test")
SPLIT_OF_USAGE = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
USAGE_OF_SPLIT = {split: usage for usage, split in SPLIT_OF_USAGE.items()}

IMAGE_SIDE = 48
PIXELS_PER_IMAGE = IMAGE_SIDE * IMAGE_SIDE

# Rows per Usage in the published FER2013 release: a model is scored for the package on the whole PrivateTest.
FER2013_ROWS = {"Training": 28709, "PublicTest": 3589, "PrivateTest": 3589}

# Published FER2013 Training class counts, in EMOTIONS order: the synthetic data mimics this imbalance.
FER2013_TRAINING_CLASS_COUNTS = (3995, 436, 4097, 7215, 4830, 3171, 4965)

# FER+ (`fer2013new.csv`): eight expression classes, then the annotators' two ways of refusing a face.
FERPLUS_CLASSES = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
VOTE_COLUMNS = (*FERPLUS_CLASSES, "unknown", "NF")
# The same expressions under FER2013's names; contempt has no FER2013 counterpart.
FERPLUS_TO_FER2013 = {
    "neutral": "neutral",
    "happiness": "happy",
    "surprise": "surprise",
    "sadness": "sad",
    "anger": "angry",
    "disgust": "disgust",
    "fear": "fear",
}

# The names people read in every answer (predict, the API, the server), whichever model gives it:
# FER2013's seven expressions in FER2013's order (its labels 0..6), then FER+'s eighth, contempt.
# FER2013's words because they are the data set's own and the adjectives people use ("happy", not
# "happiness"), and its order so that a column means the same in every answer; FER+'s nouns are
# translated (FERPLUS_TO_FER2013). A model's own records keep the names it was trained with.
VOCABULARY = (*EMOTIONS, "contempt")


def in_vocabulary(names: Sequence[str]) -> tuple[tuple[str, ...], list[int]]:
    """A model's class names said in VOCABULARY, and the order of its columns that puts them in
    VOCABULARY's order (a name outside it keeps its place, after the known ones)."""
    said = [FERPLUS_TO_FER2013.get(name, name) for name in names]
    rank = {name: i for i, name in enumerate(VOCABULARY)}
    order = sorted(range(len(said)), key=lambda i: (rank.get(said[i], len(VOCABULARY)), i))
    return tuple(said[i] for i in order), order


# The column that marks a CSV written by `ferpipe synthesize`: the data itself says it is synthetic.
GENERATOR_COLUMN = "generator"


class StageError(Exception):
    """A stage cannot go on; the message, one line, says what is wrong and where."""


class DataError(StageError):
    """The input cannot be used; the message says which file and what is wrong."""


class DivergedError(StageError):
    """Training produced a loss that is not a finite number."""


@dataclass(frozen=True)
class BadRow:
    location: str  # where a person finds the row: "line 12", "train/angry/im3.png"
    field: str
    reason: str


@dataclass
class RawTable:
    source: str  # the file as named in messages
    form: str
    emotion: pa.Array  # label text as written ("0".."6" when valid)
    pixels: pa.ChunkedArray | pa.Array | np.ndarray  # pixel strings, or decoded (N, 2304) uint8 images
    usage: pa.Array | None  # None when the form has no Usage column
    locate: Callable[[int], str]  # row index → location of that row in the source
    unreadable: list[BadRow] = field(default_factory=list)  # rows the reader could not even split
    ignored_files: list[str] = field(default_factory=list)
    blank_lines_at_end: int = 0  # a CSV's blank last lines: an editor's habit, not rows; ignored and counted
    synthetic: bool = False  # written by `ferpipe synthesize` (it has the GENERATOR_COLUMN)


@dataclass
class FaceTable:
    """Validated faces, in source order."""

    source_row: np.ndarray  # int64: row index in the source (0 = first data row)
    emotion: np.ndarray  # int8 in 0..6
    usage: np.ndarray | None  # str objects from USAGES, or None when the source has no Usage
    pixels: np.ndarray  # uint8 (N, 2304)

    def __len__(self) -> int:
        return len(self.emotion)


@dataclass(frozen=True)
class Labels:
    """The labels a run trains on (`ingest.labels`), one per validated face."""

    mode: str
    names: tuple[str, ...]
    label: np.ndarray  # int per row, index into names; -1 where the face is dropped
    dropped: np.ndarray  # str per row: why the face is dropped, "" when kept
    targets: np.ndarray | None  # (rows, classes) float32 soft targets, or None when labels are hard

    @property
    def kept(self) -> np.ndarray:
        return self.label >= 0


def class_counts(labels: np.ndarray, names: Sequence[str]) -> dict[str, int]:
    counts = np.bincount(labels.astype(np.int64), minlength=len(names))
    return {name: int(count) for name, count in zip(names, counts, strict=True)}


def to_fer2013(names: Sequence[str], label: np.ndarray) -> np.ndarray:
    """Class indices under `names` → FER2013 indices; -1 for a class FER2013 lacks (contempt)."""
    as_fer2013 = [FERPLUS_TO_FER2013.get(name, name) for name in names]
    mapping = np.array([EMOTIONS.index(name) if name in EMOTIONS else -1 for name in as_fer2013])
    return mapping[np.asarray(label)]


def agreement_with_fer2013(names: Sequence[str], label: np.ndarray, fer2013_label: np.ndarray) -> float | None:
    """Share of faces whose label (under `names`) is the same expression as their FER2013 label."""
    if len(label) == 0:
        return None
    return float(np.mean(to_fer2013(names, label) == fer2013_label))
