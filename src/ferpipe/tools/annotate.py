"""What `ferpipe predict` said, drawn. `--annotate DIR`: each input picture (or sampled video frame)
written again with every face's box, its emotion and that emotion's probability on it, so a person
sees at a glance what was found and said, and how sure the detector was that it is a face (face
crops get their label inside; CSV rows have no
picture and are not drawn). `--plot FILE` is `timeline`'s."""

from __future__ import annotations

import itertools
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ferpipe.tools.inputs import Face, _kind

CROP_SHOWN = 192  # pixels a 48x48 face crop is drawn at


def annotate(predicted: list[tuple[Face, str, float]], folder: Path, notes: list[tuple[str, str]]) -> list[Path]:
    """Draw each (face, emotion, probability) on its source; returns the pictures written. Each
    picture gets a name of its own, never one already in the folder (a note says when a name
    had to change)."""
    folder.mkdir(parents=True, exist_ok=True)
    by_picture: dict[tuple[str, float | None], list[tuple[Face, str, float]]] = defaultdict(list)
    for face, emotion, probability in predicted:
        if _kind(Path(face.source)) != "csv":
            by_picture[(face.source, face.time)].append((face, emotion, probability))
    written = []
    for (source, time), faces in by_picture.items():
        picture = frame_at(Path(source), time) if time is not None else Image.open(source).convert("RGB")
        wanted = picture_name(Path(source), time)
        path = free_path(folder / wanted)
        if path.name != wanted:
            notes.append((source, f"drawn as {path.name}: {wanted} was already in {folder}"))
        drawn(picture, faces).save(path)
        written.append(path)
    return written


def picture_name(source: Path, time: float | None) -> str:
    """`photo.png` for photo.jpg, `clip.t1.50.png` for the frame of clip.mp4 at 1.5 s."""
    return f"{source.stem}.t{time:.2f}.png" if time is not None else f"{source.stem}.png"


def free_path(path: Path) -> Path:
    """`path`, or `name-2.png`, `name-3.png`, ... when that name is taken, made at once so that no
    other picture (of this run or another) takes it too."""
    for n in itertools.count(1):
        candidate = path if n == 1 else path.with_name(f"{path.stem}-{n}{path.suffix}")
        try:
            candidate.open("x").close()
            return candidate
        except FileExistsError:
            continue
    raise AssertionError("unreachable")


def drawn(picture: Image.Image, faces: list[tuple[Face, str, float]]) -> Image.Image:
    if all(face.box is None for face, _, _ in faces):  # a face crop: scaled up, its label under it
        picture = picture.resize((CROP_SHOWN, CROP_SHOWN), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(picture)
    line = max(2, picture.width // 200)
    font = ImageFont.load_default(size=max(12, picture.width // 40))
    for face, emotion, probability in faces:
        x, y, w, h = face.box or (0, 0, picture.width, picture.height)
        draw.rectangle((x, y, x + w - 1, y + h - 1), outline=(255, 64, 0), width=line)
        label = f"{emotion} {probability:.2f}" + ("" if face.score is None else f"  (face {face.score:.2f})")
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        width, height = right - left + 2 * line, bottom - top + 2 * line
        # Above the box; inside its bottom edge when there is no room above (a crop, a face at the top).
        spot_y = y - height if y >= height else y + h - height
        draw.rectangle((x, spot_y, x + width, spot_y + height), fill=(255, 64, 0))
        draw.text((x + line - left, spot_y + line - top), label, fill=(255, 255, 255), font=font)
    return picture


def frame_at(video: Path, seconds: float) -> Image.Image:
    import cv2

    capture = cv2.VideoCapture(str(video))
    try:
        capture.set(cv2.CAP_PROP_POS_FRAMES, round(seconds * (capture.get(cv2.CAP_PROP_FPS) or 25.0)))
        ok, frame = capture.read()
    finally:
        capture.release()
    if not ok:
        return Image.new("RGB", (640, 480))
    return Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))


def predictions_of(faces: list[Face], probabilities: np.ndarray, label_names) -> list[tuple[Face, str, float]]:
    return [
        (face, label_names[int(np.argmax(p))], float(np.max(p))) for face, p in zip(faces, probabilities, strict=True)
    ]
