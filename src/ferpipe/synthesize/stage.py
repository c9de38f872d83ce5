"""Embedded default data: procedurally drawn 48x48 faces in FER2013's CSV format.

Each expression differs visibly (mouth curve and opening, brow height and slant, eye
opening, a one-sided sneer for disgust), and every face varies in pose, scale, lighting,
skin tone and noise, with per-face jitter of the expression itself so that classes overlap
a little, like real ones. Class frequencies follow FER2013's training split. Every row
carries a `generator` column beside FER2013's three, so the data itself says it is synthetic
wherever it is copied (a clone, `dvc exp run --temp`, a queued run), and every report, MLflow
tag and registered name downstream says so too. A FER+-style vote file for the same faces
comes with it, so the FER+ label modes run offline too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import expit

from ferpipe.core.config import Config, SyntheticConfig
from ferpipe.core.files import atomic_outputs
from ferpipe.core.paths import SynthesizeOutputs
from ferpipe.core.schema import (
    EMOTIONS,
    FER2013_TRAINING_CLASS_COUNTS,
    FERPLUS_TO_FER2013,
    GENERATOR_COLUMN,
    IMAGE_SIDE,
    USAGES,
    VOTE_COLUMNS,
    DataError,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Expression:
    mouth_curve: float  # > 0: corners up (smile), < 0: corners down
    mouth_open: float  # height of the open mouth at its centre, in face units
    mouth_width: float
    brow_raise: float
    brow_slant: float  # > 0: inner ends down (frown), < 0: inner ends up (worry)
    eye_open: float  # half-height of the eye opening
    sneer: float  # one-sided lift of the upper lip, and a wrinkled nose


EXPRESSIONS = {
    "angry": Expression(-0.3, 0.2, 6.5, -1.2, 1.3, 1.0, 0.0),
    "disgust": Expression(-0.8, 0.6, 6.0, -0.6, 0.6, 0.8, 1.0),
    "fear": Expression(-0.6, 1.6, 8.0, 1.6, -0.9, 2.3, 0.0),
    "happy": Expression(2.6, 0.8, 8.5, 0.2, 0.0, 1.0, 0.0),
    "sad": Expression(-2.2, 0.0, 6.5, 0.4, -1.2, 1.2, 0.0),
    "surprise": Expression(0.0, 3.6, 4.5, 2.6, 0.0, 2.6, 0.0),
    "neutral": Expression(0.0, 0.0, 7.0, 0.0, 0.0, 1.6, 0.0),
}
JITTER = Expression(0.45, 0.35, 0.7, 0.45, 0.35, 0.3, 0.2)  # per-face spread of each feature


def draw_faces(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw one face per label: uint8 array (len(labels), 48, 48)."""
    n = len(labels)
    table = np.array([[getattr(EXPRESSIONS[name], f) for f in Expression.__dataclass_fields__] for name in EMOTIONS])
    spread = np.array([getattr(JITTER, f) for f in Expression.__dataclass_fields__])
    features = table[labels] + rng.normal(size=(n, len(spread))) * spread
    curve, mouth_open, width, brow_raise, brow_slant, eye_open, sneer = (features[:, i, None, None] for i in range(7))
    mouth_open, width, eye_open = np.maximum(mouth_open, 0), np.maximum(width, 3), np.maximum(eye_open, 0.4)

    def per_face(values: np.ndarray) -> np.ndarray:
        return values[:, None, None]

    # Pose: each face is drawn in its own coordinates (u right, v down, unit = 1 pixel at scale 1).
    y, x = np.mgrid[0:IMAGE_SIDE, 0:IMAGE_SIDE].astype(np.float32)
    cx, cy = per_face(24 + rng.normal(0, 1.5, n)), per_face(25 + rng.normal(0, 1.5, n))
    angle, scale = per_face(rng.normal(0, 0.12, n)), per_face(rng.uniform(0.85, 1.1, n))
    u = ((x - cx) * np.cos(angle) + (y - cy) * np.sin(angle)) / scale
    v = (-(x - cx) * np.sin(angle) + (y - cy) * np.cos(angle)) / scale

    def soft(inside: np.ndarray, sharpness: float = 4.0) -> np.ndarray:
        return expit(sharpness * inside)

    background = per_face(rng.uniform(0.05, 0.55, n)) + per_face(rng.normal(0, 0.1, n)) * (y - 24) / 24
    skin = per_face(rng.uniform(0.45, 0.85, n))
    face = soft(1 - (u / 15.5) ** 2 - (v / 19.5) ** 2, 8)
    image = background * (1 - face) + skin * face
    ink = np.zeros_like(image)  # how dark each feature makes a pixel, 0..1

    for side in (-1, 1):
        eye = soft(1 - ((u - side * 6.5) / 3.2) ** 2 - ((v + 3) / eye_open) ** 2, 3)
        brow_line = -8.5 - brow_raise + brow_slant * (6.5 - np.abs(u)) / 3.5
        brow = soft(0.9 - np.abs(v - brow_line)) * soft(3.5 - np.abs(u - side * 6.5), 2)
        ink = np.maximum(ink, np.maximum(0.85 * eye, 0.75 * brow))

    along = np.clip(u / width, -1.2, 1.2)
    lip_line = 10 + curve * (0.5 - along**2) - sneer * np.clip(along, 0, 1) * 1.5
    lips = soft(0.8 + mouth_open * np.sqrt(np.clip(1 - along**2, 0, 1)) - np.abs(v - lip_line)) * soft(
        1 - np.abs(u / width), 6
    )
    nose = soft(0.6 - np.abs(u)) * soft(3 - np.abs(v - 3.5), 2) * 0.3
    wrinkles = sneer.clip(0, None) * soft(0.5 - np.abs(v - 1.5 + 0.5 * np.abs(u))) * soft(3 - np.abs(u), 2)
    ink = np.maximum.reduce([ink, 0.9 * lips, nose, 0.5 * np.clip(wrinkles, 0, 1)])

    image = image * (1 - ink) + 0.08 * ink
    image = image * (1 + per_face(rng.normal(0, 0.25, n)) * (x - 24) / 24)  # side lighting
    image = image + rng.normal(size=image.shape) * per_face(rng.uniform(0.02, 0.07, n))
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)


def sample_labels(count: int, rng: np.random.Generator) -> np.ndarray:
    """Labels with FER2013's class frequencies; every class at least once when count allows."""
    share = np.array(FER2013_TRAINING_CLASS_COUNTS) / sum(FER2013_TRAINING_CLASS_COUNTS)
    labels = rng.choice(len(EMOTIONS), size=count, p=share)
    if count >= len(EMOTIONS):
        labels[: len(EMOTIONS)] = np.arange(len(EMOTIONS))
    return rng.permutation(labels)


def synthetic_votes(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ten annotators' votes per face over FER+'s 10 columns, like FER+'s own: mostly for the face's
    expression, the rest scattered, and a few faces voted unknown or not a face."""
    column_of = {EMOTIONS.index(fer2013): VOTE_COLUMNS.index(name) for name, fer2013 in FERPLUS_TO_FER2013.items()}
    weights = np.full((len(labels), len(VOTE_COLUMNS)), 0.04)
    weights[np.arange(len(labels)), [column_of[int(label)] for label in labels]] += rng.uniform(0.25, 1.0, len(labels))
    odd = rng.random(len(labels))
    weights[odd < 0.03, VOTE_COLUMNS.index("unknown")] += 1.0
    weights[(odd >= 0.03) & (odd < 0.04), VOTE_COLUMNS.index("NF")] += 2.0
    return np.array([rng.multinomial(10, row / row.sum()) for row in weights])


def run(config: Config) -> None:
    """Stage synthesize: the embedded synthetic faces (FER2013 CSV format, marked synthetic) and their FER+-style votes."""
    outputs = SynthesizeOutputs()
    rows = write_synthetic_csv(outputs.faces, config.synthetic, outputs.votes)
    log.info(
        "wrote %d synthetic faces to %s and their votes to %s (SYNTHETIC data, not FER2013)",
        rows,
        outputs.faces,
        outputs.votes,
    )


def write_synthetic_csv(path: Path, config: SyntheticConfig, votes_path: Path | None = None) -> int:
    """Write a FER2013-format CSV with a `generator` column (`emotion,pixels,Usage,generator`),
    and optionally a FER+-format vote file (`fer2013new.csv`) for the same faces."""
    unknown = set(config.rows) - set(USAGES)
    if unknown:
        raise DataError(f"synthetic.rows: unknown Usage {sorted(unknown)}; use {list(USAGES)}")
    rng = np.random.default_rng(config.seed)
    path = Path(path)
    total, vote_rows = 0, []
    vote_rng = np.random.default_rng([config.seed, 1])  # its own stream: the faces are the same with or without votes
    generator = f"ferpipe synthesize (seed {config.seed})"
    with atomic_outputs(path, *([votes_path] if votes_path else [])) as staged:
        with open(staged(path), "w") as stream:
            stream.write(f"emotion,pixels,Usage,{GENERATOR_COLUMN}\n")
            for usage, count in config.rows.items():
                if count == 0:  # allowed (not all may be): a Usage left out
                    continue
                labels = sample_labels(count, rng)
                faces = draw_faces(labels, rng).reshape(count, -1)
                stream.writelines(
                    f"{label},{' '.join(map(str, face))},{usage},{generator}\n"
                    for label, face in zip(labels, faces, strict=True)
                )
                vote_rows += [(usage, votes) for votes in synthetic_votes(labels, vote_rng)]
                total += count
        if votes_path:
            with open(staged(votes_path), "w") as stream:
                stream.write(",".join(("Usage", "Image name", *VOTE_COLUMNS)) + "\n")
                stream.writelines(
                    f"{usage},synthetic{row:07d}.png,{','.join(map(str, votes))}\n"
                    for row, (usage, votes) in enumerate(vote_rows)
                )
    return total
