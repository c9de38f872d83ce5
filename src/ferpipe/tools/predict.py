"""Predict expressions for people's own inputs (`ferpipe.tools.inputs` reads them), streaming:
the next batch is read and decoded on a background thread while the model runs on this one,
and each batch's rows are written as soon as they are predicted, so memory stays bounded by
the batch size whatever the size of the input.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from ferpipe.core.files import existing_ancestor, writable
from ferpipe.core.inference import BATCH_SIZE
from ferpipe.core.schema import EMOTIONS
from ferpipe.detect import Detector, detector
from ferpipe.tools.inputs import FRAMES_PER_SECOND, Batch, Face, Report, count_inputs, face_batches
from ferpipe.tools.models import default_label_names


def check_output(destination: Path | None, option: str = "--output", suffixes: tuple[str, ...] = ()) -> None:
    """Refuse, before any work, a file destination that cannot be written, in one line naming it."""
    if destination is None:
        return
    if destination.is_dir():
        kinds = " or ".join(suffixes) or "file"
        raise ValueError(f"{option} {destination}: is a folder; name a {kinds} file")
    if suffixes and not destination.name.lower().endswith(suffixes):
        raise ValueError(f"{option} {destination}: name a {' or '.join(suffixes)} file")
    if destination.exists() and not os.access(destination, os.W_OK):
        raise ValueError(f"{option} {destination}: the file is read-only")
    if not writable(destination.parent):
        folder = existing_ancestor(destination.parent)
        raise ValueError(f"{option} {destination}: cannot be written here ({folder} is not a writable folder)")


def check_folder(folder: Path | None, option: str) -> None:
    """Refuse, before any work, a destination folder that is a file or cannot be written."""
    if folder is None:
        return
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{option} {folder}: not a folder")
    if not writable(folder):
        raise ValueError(
            f"{option} {folder}: cannot be written here ({existing_ancestor(folder)} is not a writable folder)"
        )


def predicted_batches(
    model,
    paths: list[Path],
    batch_size: int,
    report: Report,
    fps: float = FRAMES_PER_SECOND,
    make_detector: Callable[[], Detector] = detector,
) -> Iterator[tuple[Batch, np.ndarray]]:
    """Each batch of faces with its class probabilities; the next batch is read while this one runs."""
    for batch in read_ahead(face_batches(paths, batch_size, report, fps, make_detector)):
        probabilities = (
            np.asarray(model.predict_on_batch(batch.pixels))
            if batch.faces
            else np.zeros((0, model.output_shape[-1]), np.float32)
        )
        report.predicted += len(batch.faces)
        report.sources.update(face.source for face in batch.faces)
        yield batch, probabilities


def read_ahead(items: Iterator) -> Iterator:
    """`items`, with the next one made on a background thread while the caller uses this one.
    (Decoding and parsing release the GIL in numpy, Pillow, OpenCV and Arrow; so does the model.)"""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as reader:
        upcoming = reader.submit(next, items, None)
        while (item := upcoming.result()) is not None:
            upcoming = reader.submit(next, items, None)
            yield item


class RowWriter:
    """Predictions as CSV, or as JSON (`{"predictions": [...], "failures": [...]}`), a batch at a time."""

    def __init__(self, stream: TextIO, label_names: tuple[str, ...], as_json: bool):
        self.stream, self.label_names, self.as_json, self.rows = stream, label_names, as_json, 0
        if as_json:
            stream.write('{"predictions": [')
        else:
            self.csv = csv.DictWriter(
                stream,
                fieldnames=["source", "face", "time", "x", "y", "width", "height", "score", "emotion", *label_names],
                lineterminator="\n",
            )
            self.csv.writeheader()

    def write(self, faces: list[Face], probabilities: np.ndarray) -> None:
        rows = [self.row(face, p) for face, p in zip(faces, probabilities, strict=True)]
        if not self.as_json:
            self.csv.writerows(rows)
        elif rows:
            separator = ",\n  " if self.rows else "\n  "
            self.stream.write(separator + ",\n  ".join(json.dumps(row) for row in rows))
        self.rows += len(rows)

    def row(self, face: Face, probabilities: np.ndarray) -> dict:
        x, y, w, h = face.box if face.box else ("", "", "", "")
        return {
            "source": face.source,
            "face": face.index,
            "time": "" if face.time is None else face.time,
            "x": x,
            "y": y,
            "width": w,
            "height": h,
            "score": "" if face.score is None else round(face.score, 4),
            "emotion": self.label_names[int(np.argmax(probabilities))],
            **{name: round(float(p), 6) for name, p in zip(self.label_names, probabilities, strict=True)},
        }

    def close(self, failures: list[tuple[str, str]]) -> None:
        if self.as_json:
            listed = [json.dumps({"source": source, "reason": reason}) for source, reason in failures]
            self.stream.write('\n], "failures": [' + ",".join("\n  " + item for item in listed) + "\n]}\n")


def predict_to(
    model,
    paths: list[Path],
    stream: TextIO,
    as_json: bool = False,
    batch_size: int = BATCH_SIZE,
    label_names: tuple[str, ...] | None = None,
    fps: float = FRAMES_PER_SECOND,
    annotate: Path | None = None,
    plot: Path | None = None,
    make_detector: Callable[[], Detector] = detector,
) -> Report:
    """Predict every face in `paths` (found by the detector `make_detector` makes), writing its row to
    `stream` as its batch is done, under a progress bar; with `annotate`, then draw each picture's faces
    and what was said of them into that folder; with `plot`, each video's expressions over time into
    that PNG."""
    from tqdm import tqdm

    from ferpipe.tools import annotate as annotation
    from ferpipe.tools.timeline import timeline_png

    report = Report()
    names = tuple(label_names or default_label_names(model.output_shape[-1]))
    writer = RowWriter(stream, names, as_json)
    drawn: list = []
    frames: list = []
    with tqdm(desc="predicting", unit=" input", mininterval=1, disable=None) as bar:  # shown at a terminal only
        if not bar.disable:
            bar.reset(total=count_inputs(paths))
        for batch, probabilities in predicted_batches(model, paths, batch_size, report, fps, make_detector):
            writer.write(batch.faces, probabilities)
            if annotate:
                drawn += annotation.predictions_of(batch.faces, probabilities, names)
            if plot:
                frames += [
                    (face, p) for face, p in zip(batch.faces, probabilities, strict=True) if face.time is not None
                ]
            bar.update(batch.inputs)
    writer.close(report.failures)
    if annotate:
        annotation.annotate(drawn, annotate, report.notes)
    if plot and not timeline_png(frames, names, plot):
        report.notes.append((str(plot), "not drawn: no face in a sampled video frame"))
    return report


@dataclass
class Results(Report):
    """Every prediction held in memory: for callers in Python on small inputs (tests, the registry's checks)."""

    faces: list[Face] | None = None
    probabilities: np.ndarray | None = None
    label_names: tuple[str, ...] = EMOTIONS


def predict(
    model, paths: list[Path], batch_size: int = BATCH_SIZE, label_names: tuple[str, ...] | None = None
) -> Results:
    faces: list[Face] = []
    results = Results(faces=faces, label_names=tuple(label_names or default_label_names(model.output_shape[-1])))
    parts = []
    for batch, probabilities in predicted_batches(model, paths, batch_size, results):
        faces += batch.faces
        parts.append(probabilities)
    results.probabilities = np.concatenate(parts) if faces else None
    return results


def write(results: Results, stream: TextIO, as_json: bool = False) -> None:
    writer = RowWriter(stream, results.label_names, as_json)
    if results.faces and results.probabilities is not None:
        writer.write(results.faces, results.probabilities)
    writer.close(results.failures)
