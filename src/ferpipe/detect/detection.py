"""A face found in an image: what every detector answers."""

from __future__ import annotations

from dataclasses import dataclass

Point = tuple[float, float]


@dataclass(frozen=True)
class Detection:
    box: tuple[int, int, int, int]  # x, y, width, height in the image, inside it
    score: float | None  # the detector's confidence; None for one that gives none (Haar)
    eyes: tuple[Point, Point] | None = None  # the eye on the image's left, then the one on its right

    @classmethod
    def of_corners(
        cls, corners: tuple[float, float, float, float], size: tuple[int, int], score: float | None, eyes=None
    ) -> Detection:
        """From (x0, y0, x1, y1), clipped to an image of (width, height)."""
        width, height = size
        x0, y0 = max(0, round(corners[0])), max(0, round(corners[1]))
        x1, y1 = min(width, round(corners[2])), min(height, round(corners[3]))
        if eyes is not None and eyes[0][0] > eyes[1][0]:
            eyes = (eyes[1], eyes[0])
        return cls((x0, y0, x1 - x0, y1 - y0), score, eyes)
