"""Exact-duplicate images, found by hashing each image's pixels."""

from __future__ import annotations

import numpy as np

_HASH_KEYS = np.random.default_rng(0x5EED).integers(1, 2**63, size=2304 // 8, dtype=np.uint64) | np.uint64(1)


def image_groups(pixels: np.ndarray) -> np.ndarray:
    """Group id per row: two rows share an id exactly when their pixels are identical.

    Rows are grouped by a 64-bit multiply-add hash of their pixels (vectorised, much faster
    than a cryptographic hash per row), then every grouped row is compared byte for
    byte with its group's first row; on a hash collision the grouping is redone exactly.
    """
    pixels = np.ascontiguousarray(pixels)
    words = pixels.view(np.uint64)
    digests = (words * _HASH_KEYS[: words.shape[1]]).sum(axis=1, dtype=np.uint64)
    _, first, groups, sizes = np.unique(digests, return_index=True, return_inverse=True, return_counts=True)
    shared = np.flatnonzero(sizes[groups] > 1)
    if not (pixels[shared] == pixels[first[groups[shared]]]).all():
        rows = pixels.view(np.dtype((np.void, pixels.shape[1]))).ravel()
        groups = np.unique(rows, return_inverse=True)[1]
    return groups


def seen_in(groups: np.ndarray, rows: np.ndarray, reference_rows: np.ndarray) -> np.ndarray:
    """For each of `rows`, whether an identical image occurs among `reference_rows`."""
    return np.isin(groups[rows], groups[reference_rows])
