"""What people bring to `ferpipe predict`, read as a stream of face batches: image files of any
size and colour, folders of them, FER-format CSVs, and videos (frames sampled at `--fps`), with
the light install's libraries alone (no Arrow, pandas or TensorFlow).

Images that are already 48x48 are taken as face crops; in larger ones (and video frames) the faces
are found by the detector (`ferpipe.detect`: BlazeFace unless asked otherwise) and each is cut as
FER2013 cut its faces (`detect.align`), one face per detection with its box and score. CSVs are read a block
at a time by the ingest stage's rules (`csv_rows`), so memory is bounded by the batch, not the input. A
bad file or row is reported with its reason and the rest go on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ferpipe.core.images import open_image, to_grey_uint8, to_rgb_uint8
from ferpipe.core.schema import IMAGE_SIDE
from ferpipe.detect import Detector, detector
from ferpipe.detect.align import faces_in

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
CSV_SUFFIXES = (".csv", ".csv.gz")
VIDEO_SUFFIXES = {
    ".mp4",
    ".avi",
    ".mov",
    ".mkv",
    ".webm",
    ".m4v",
    ".mpg",
    ".mpeg",
    ".wmv",
}  # what OpenCV's FFmpeg reads
FRAMES_PER_SECOND = 2.0  # sampled from a video: `ferpipe predict --fps`


@dataclass(frozen=True)
class Face:
    source: str
    index: int  # face number within its picture: the photo, the video frame at `time` (row number for CSVs)
    box: tuple[int, int, int, int] | None  # x, y, width, height in the source image; None for crops
    time: float | None = None  # seconds into a video, for a face in one of its frames
    score: float | None = None  # the face detector's confidence (None: a crop, or a detector with none)


@dataclass
class Batch:
    faces: list[Face]
    pixels: np.ndarray  # (len(faces), 48, 48, 1) uint8
    inputs: int  # files and CSV rows read to make it, good or bad: what the progress bar counts


@dataclass
class Report:
    """What happened to the inputs, filled in as they are read."""

    failures: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)
    notes: list[tuple[str, str]] = field(default_factory=list)  # (source, what was done with it)
    predicted: int = 0
    sources: set[str] = field(default_factory=set)

    def summary(self, done: str = "predicted") -> str:
        text = f"{done} {self.predicted} face(s) from {len(self.sources)} input(s)"
        if self.failures:
            reasons = Counter(reason.split(":")[0] for _, reason in self.failures)
            text += f"; {len(self.failures)} input(s) failed: " + ", ".join(
                f"{n} {r}" for r, n in reasons.most_common()
            )
        return text


def face_batches(
    paths: list[Path],
    batch_size: int,
    report: Report,
    fps: float = FRAMES_PER_SECOND,
    make_detector: Callable[[], Detector] = detector,
) -> Iterator[Batch]:
    """Batches of `batch_size` faces from all inputs in order (the last one smaller); the detector
    is made when the first picture that is not a face crop needs it."""
    faces: list[Face] = []
    pixels: list[np.ndarray] = []
    inputs = 0
    for found, crops, read in faces_of_each_input(paths, report, fps, make_detector):
        faces += found
        pixels += list(crops)
        inputs += read
        while len(faces) >= batch_size:
            yield Batch(faces[:batch_size], _stacked(pixels[:batch_size]), inputs)
            faces, pixels, inputs = faces[batch_size:], pixels[batch_size:], 0
    if faces or inputs:
        yield Batch(faces, _stacked(pixels), inputs)


def _stacked(crops: list[np.ndarray]) -> np.ndarray:
    return np.stack(crops)[..., None] if crops else np.zeros((0, IMAGE_SIDE, IMAGE_SIDE, 1), np.uint8)


def faces_of_each_input(
    paths: list[Path], report: Report, fps: float = FRAMES_PER_SECOND, make_detector: Callable[[], Detector] = detector
) -> Iterator[tuple[list[Face], np.ndarray, int]]:
    """(faces, their 48x48 crops, inputs read) for each image file, each block of CSV rows and each
    sampled video frame."""
    found_by: Detector | None = None
    for path in expand(paths):
        try:
            if not path.exists():
                raise ValueError("missing: no such file")
            if _kind(path) == "csv":
                yield from faces_in_csv(path, report)
                continue
            if _kind(path) == "video":
                found_by = found_by or make_detector()
                yield from faces_in_video(path, fps, found_by, report)
                continue
            image = open_image(path, report.notes)
            grey = to_grey_uint8(image)
            if grey.shape == (IMAGE_SIDE, IMAGE_SIDE):
                yield [Face(str(path), 0, None)], grey[None], 1
                continue
            found_by = found_by or make_detector()
            found = faces_in(grey, to_rgb_uint8(image, grey), found_by)
            if not found:
                raise ValueError(f"no face: the face detector ({found_by.name}) found none")
            faces = [Face(str(path), i, face.box, None, face.score) for i, (face, _) in enumerate(found)]
            yield faces, np.stack([crop for _, crop in found]), 1
        except ValueError as problem:
            report.failures.append((str(path), str(problem)))
            yield [], np.zeros((0, IMAGE_SIDE, IMAGE_SIDE), np.uint8), 1


def expand(inputs: list[Path]) -> Iterator[Path]:
    for path in inputs:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and _kind(p))
        else:
            yield path


def count_inputs(paths: list[Path]) -> int:
    """Image files plus CSV data lines: the progress bar's total (a quick pass over each CSV)."""
    from ferpipe.tools.csv_rows import data_lines

    total = 0
    for path in expand(paths):
        if _kind(path) != "csv" or not path.is_file():
            total += 1
            continue
        try:
            total += data_lines(path)
        except (OSError, EOFError):
            total += 1  # unreadable: reading it properly will say why
    return total


def _kind(path: Path) -> str | None:
    if path.name.lower().endswith(CSV_SUFFIXES):
        return "csv"
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return "video"
    return "image" if path.suffix.lower() in IMAGE_SUFFIXES else None


def faces_in_csv(path: Path, report: Report) -> Iterator[tuple[list[Face], np.ndarray, int]]:
    """Rows of a CSV with a `pixels` column (any FER2013 form, or Kaggle's test.csv), a block at a time."""
    from ferpipe.tools.csv_rows import csv_blocks

    source = str(path)
    blank: list[str] = []  # blank lines not yet followed by another line: the file's end, or a bad row

    def rows_follow() -> None:  # the blank lines so far were not the end: bad rows
        report.failures.extend((where, "bad row: blank line (no values)") for where in blank)
        blank.clear()

    def fail(where: str, reason: str) -> None:
        rows_follow()
        report.failures.append((where, f"bad row: {reason}"))

    for block in csv_blocks(path, lambda line, reason: fail(f"{path}:line {line}", reason)):
        indexes, lines, images, problems = block.parsed()
        kept = []
        for position, (row, line) in enumerate(zip(indexes, lines, strict=True)):
            if block.rows[position][2] is None:
                blank.append(f"{path}:line {line}")
            elif position in problems:
                fail(f"{path}:line {line}", problems[position])
            else:
                rows_follow()
                kept.append(row)
        yield [Face(source, row, None) for row in kept], images.reshape(-1, IMAGE_SIDE, IMAGE_SIDE), len(indexes)
    if blank:
        report.notes.append((source, f"{len(blank)} blank line(s) at the end ignored"))


def faces_in_video(
    path: Path, fps: float, found_by: Detector, report: Report
) -> Iterator[tuple[list[Face], np.ndarray, int]]:
    """The faces of a video's frames sampled `fps` times a second, each with its time. A video that
    stops before its stated length is a failure saying when; the frames before are kept."""
    import cv2

    video = cv2.VideoCapture(str(path))
    if not video.isOpened():
        raise ValueError("not a video: OpenCV cannot read it")
    rate = video.get(cv2.CAP_PROP_FPS) or 25.0
    stated = video.get(cv2.CAP_PROP_FRAME_COUNT) / rate
    frame, sampled, found = 0, 0, 0
    try:
        while True:
            ok, image = video.read()
            if not ok:
                break
            seconds = frame / rate
            frame += 1
            if seconds + 1e-9 < sampled / fps:  # not yet the next sample's time
                continue
            sampled += 1
            rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
            faces = faces_in(to_grey_uint8(Image.fromarray(rgb)), rgb, found_by)  # grey as a photo's is made
            yield (
                [Face(str(path), i, f.box, round(seconds, 3), f.score) for i, (f, _) in enumerate(faces)],
                np.stack([crop for _, crop in faces]) if faces else np.zeros((0, IMAGE_SIDE, IMAGE_SIDE), np.uint8),
                0,
            )
            found += len(faces)
    finally:
        video.release()
    read = frame / rate
    if frame == 0:
        raise ValueError("not a video: no frame could be read")
    if read + 1.5 / rate < stated:
        report.failures.append(
            (
                str(path),
                f"truncated: no frame could be read after {read:.2f} s of {stated:.2f} s; "
                f"the {sampled} frame(s) sampled before are kept",
            )
        )
    elif not found:
        raise ValueError(f"no face: the face detector found none in {sampled} sampled frame(s)")
    report.notes.append((str(path), f"{sampled} frame(s) sampled at {fps:g} a second from {read:.2f} s of video"))
    yield [], np.zeros((0, IMAGE_SIDE, IMAGE_SIDE), np.uint8), 1
