"""`ferpipe predict --plot FILE`: each video's expressions over time, one panel per video: the mean
probability of each class over the faces of each sampled frame. Drawn with Pillow (the light install
has no matplotlib); the legend sits beside the plot, never over a line."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ferpipe.core.files import atomic_outputs
from ferpipe.tools.inputs import Face

WIDTH, PANEL_HEIGHT = 900, 300
LEFT, RIGHT, TOP, BOTTOM = 52, 130, 28, 40  # margins: axis labels left and below, the legend right
# Tableau's ten colours, as matplotlib draws lines by default: a class keeps its colour in every panel.
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def timeline_png(frames: list[tuple[Face, np.ndarray]], label_names, path: Path) -> bool:
    """Per video, each class's probability over time (the mean over the faces of a sampled frame);
    False, and nothing drawn, when no sampled frame had a face."""
    videos: dict[str, dict[float, list[np.ndarray]]] = defaultdict(lambda: defaultdict(list))
    for face, probabilities in frames:
        if face.time is not None:
            videos[face.source][face.time].append(probabilities)
    if not videos:
        return False
    picture = Image.new("RGB", (WIDTH, PANEL_HEIGHT * len(videos)), "white")
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default(size=12)
    for panel, (source, moments) in enumerate(videos.items()):
        times = sorted(moments)
        means = np.array([np.mean(moments[t], axis=0) for t in times])
        draw_panel(draw, font, panel * PANEL_HEIGHT, Path(source).name, times, means, list(label_names))
    with atomic_outputs(path, keep_old=True) as staged:  # a file the person named: replaced only when whole
        picture.save(staged(path), format="PNG")
    return True


def draw_panel(draw, font, top: int, title: str, times: list[float], means: np.ndarray, names: list[str]) -> None:
    x0, x1, y0, y1 = LEFT, WIDTH - RIGHT, top + TOP, top + PANEL_HEIGHT - BOTTOM
    end = max(times[-1], 1e-9)

    def at(t: float, p: float) -> tuple[float, float]:
        return x0 + (x1 - x0) * t / end, y1 - (y1 - y0) * p

    draw.text(((x0 + x1) / 2, top + 6), title, fill="black", font=font, anchor="mt")
    for p in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = at(0, p)[1]
        draw.line((x0, y, x1, y), fill="#e6e6e6")
        draw.text((x0 - 6, y), f"{p:g}", fill="black", font=font, anchor="rm")
    step = nice_step(end)
    for k in range(int(end / step + 1e-9) + 1):
        x = at(k * step, 0)[0]
        draw.line((x, y1, x, y1 + 4), fill="black")
        draw.text((x, y1 + 6), f"{k * step:g}", fill="black", font=font, anchor="mt")
    draw.text(((x0 + x1) / 2, y1 + 22), "seconds", fill="black", font=font, anchor="mt")
    draw.text((8, (y0 + y1) / 2), "p", fill="black", font=font, anchor="lm")
    draw.rectangle((x0, y0, x1, y1), outline="black")
    for k, name in enumerate(names):
        colour = COLOURS[k % len(COLOURS)]
        points = [at(t, float(p)) for t, p in zip(times, means[:, k], strict=True)]
        if len(points) == 1:
            x, y = points[0]
            draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=colour)
        else:
            draw.line(points, fill=colour, width=2)
        legend_y = y0 + 4 + 16 * k
        draw.line((x1 + 12, legend_y + 6, x1 + 32, legend_y + 6), fill=colour, width=3)
        draw.text((x1 + 38, legend_y), name, fill="black", font=font)


def nice_step(span: float) -> float:
    """A tick step of 1, 2 or 5 times a power of ten giving at most about eight ticks over `span`."""
    raw = span / 8
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
