"""Usage → train/val/test, carving a validation split when the source has none."""

from __future__ import annotations

import numpy as np

from ferpipe.core.schema import SPLIT_OF_USAGE, DataError, FaceTable


def assign_splits(table: FaceTable, val_fraction: float, seed: int) -> tuple[np.ndarray, str | None]:
    """Return each row's split and, when validation rows were carved from training, a note saying so."""
    if table.usage is None:
        splits = np.full(len(table), "train", dtype=object)
    else:
        splits = np.array([SPLIT_OF_USAGE[u] for u in table.usage], dtype=object)
    train_rows = np.flatnonzero(splits == "train")
    if len(train_rows) == 0:
        raise DataError(
            f"no Training row among the {len(table)} valid row(s): nothing to train on "
            "(rows set aside as invalid are listed in rejected_rows.csv)"
        )
    if (splits == "val").any():
        return splits, None
    if not 0 < val_fraction < 1:
        raise DataError(f"the source has no validation split and ingest.val_fraction={val_fraction} cannot carve one")
    from sklearn.model_selection import (
        train_test_split,  # slow import, needed only for this form
    )

    try:
        _, val_rows = train_test_split(
            train_rows, test_size=val_fraction, stratify=table.emotion[train_rows], random_state=seed
        )
    except ValueError:  # scikit-learn's wording speaks of test_size; say what it means here
        classes = np.unique(table.emotion[train_rows], return_counts=True)[1]
        raise DataError(
            f"the source has no PublicTest rows, and its {len(train_rows)} Training rows are too few to carve a "
            f"validation split of {val_fraction:g} with every class in it ({len(classes)} classes, the rarest "
            f"{classes.min()} row(s)): add PublicTest rows, or more Training rows"
        ) from None
    splits[val_rows] = "val"
    note = (
        f"the source has no validation split: {len(val_rows)} of {len(train_rows)} training rows "
        f"({val_fraction:.0%}, stratified by class, seed {seed}) were set aside as validation"
    )
    return splits, note
