"""The data report: counts, duplicates, label conflicts and blank images, plus a plot."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, cast

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.container import BarContainer  # noqa: E402

from ferpipe.core.duplicates import seen_in  # noqa: E402
from ferpipe.core.schema import (  # noqa: E402
    SPLITS,
    USAGES,
    BadRow,
    FaceTable,
    Labels,
    agreement_with_fer2013,
    class_counts,
)
from ferpipe.ingest.labels import dropped_by_split  # noqa: E402


def build_report(
    table: FaceTable,
    splits: np.ndarray,
    groups: np.ndarray,
    rejected: list[BadRow],
    labels: Labels,
    *,
    source: dict[str, Any],
    synthetic: bool,
    notes: list[str],
    blank_lines_at_end: int = 0,
) -> dict[str, Any]:
    """`groups`: the duplicate-image group of each row (`duplicates.image_groups`)."""
    return {
        "data": "synthetic" if synthetic else "real",
        "source": source,
        "rows": {
            "valid": len(table),
            "rejected": len({row.location for row in rejected}),
            "blank_lines_at_end": blank_lines_at_end,
            "by_usage": _usage_counts(table),
            "by_split": {split: int((splits == split).sum()) for split in SPLITS},
        },
        # Faces per class of the labels trained on (FER+ classes in FER+ modes), dropped faces left out.
        "classes": {
            split: class_counts(labels.label[(splits == split) & labels.kept], labels.names) for split in SPLITS
        },
        "labels": label_summary(table, splits, labels),
        "rejected": {
            "rows": len({row.location for row in rejected}),
            "problems_by_field": dict(Counter(row.field for row in rejected)),
        },
        "duplicates": duplicate_summary(table, splits, groups),
        "constant_images": constant_images(table.pixels),
        "notes": notes,
    }


def label_summary(table: FaceTable, splits: np.ndarray, labels: Labels) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "mode": labels.mode,
        "names": list(labels.names),
        "kept": {split: int(((splits == split) & labels.kept).sum()) for split in SPLITS},
        "dropped": dropped_by_split(labels, splits, SPLITS),
    }
    if labels.mode != "fer2013":
        # How often the FER+ label (majority in val/test) is the expression FER2013's label names.
        summary["agreement_with_fer2013_labels"] = agreement_with_fer2013(
            labels.names, labels.label[labels.kept], table.emotion[labels.kept]
        )
    return summary


def _usage_counts(table: FaceTable) -> dict[str, int]:
    if table.usage is None:
        return {}
    return {usage: int((table.usage == usage).sum()) for usage in USAGES}


def duplicate_summary(table: FaceTable, splits: np.ndarray, groups: np.ndarray) -> dict[str, int]:
    frame = pd.DataFrame({"group": groups, "split": splits, "label": table.emotion})
    sizes = frame.groupby("group").size()
    repeated = frame[frame["group"].isin(sizes[sizes > 1].index)]
    per_group = repeated.groupby("group").agg(splits=("split", "nunique"), labels=("label", "nunique"))
    # An image whose copies carry different labels inside one split: (image, split) pairs.
    labels_within_split = repeated.groupby(["group", "split"])["label"].transform("nunique")
    conflicting_within_split = repeated[labels_within_split > 1]
    rows_of = {split: np.flatnonzero(splits == split) for split in SPLITS}
    return {
        "groups": len(per_group),
        "rows_in_groups": len(repeated),
        "redundant_copies": len(repeated) - len(per_group),
        "groups_within_one_split": int((per_group["splits"] == 1).sum()),
        "groups_across_splits": int((per_group["splits"] > 1).sum()),
        "val_rows_seen_in_train": int(seen_in(groups, rows_of["val"], rows_of["train"]).sum()),
        "test_rows_seen_in_train": int(seen_in(groups, rows_of["test"], rows_of["train"]).sum()),
        "test_rows_seen_in_val": int(seen_in(groups, rows_of["test"], rows_of["val"]).sum()),
        "groups_with_conflicting_labels": int((per_group["labels"] > 1).sum()),
        "within_split_label_conflicts": int(conflicting_within_split.groupby(["group", "split"]).ngroups),
        "rows_in_within_split_label_conflicts": len(conflicting_within_split),
    }


def constant_images(pixels: np.ndarray) -> dict[str, Any]:
    constant = pixels.min(axis=1) == pixels.max(axis=1)
    values = Counter(int(v) for v in pixels[constant, 0])
    return {"rows": int(constant.sum()), "by_value": {str(v): n for v, n in sorted(values.items())}}


def class_distribution_rows(report: dict[str, Any]) -> pd.DataFrame:
    """Long table (split, class, count): the counts `plot_class_distribution` draws."""
    return pd.DataFrame(
        [
            {"split": split, "class": name, "count": count}
            for split, counts in report["classes"].items()
            for name, count in counts.items()
        ]
    )


def plot_class_distribution(report: dict[str, Any], path: Path) -> None:
    rows = class_distribution_rows(report)
    table = rows.pivot(index="class", columns="split", values="count").reindex(
        index=report["labels"]["names"], columns=list(SPLITS)
    )
    figure, axis = plt.subplots(figsize=(8, 4.5))
    table.plot.bar(ax=axis, width=0.8)
    axis.set_xlabel("")
    axis.set_ylabel("images")
    axis.set_title(f"Class distribution per split ({report['data']} data, {report['labels']['mode']} labels)")
    axis.tick_params(axis="x", rotation=0)
    for bars in axis.containers:
        axis.bar_label(cast(BarContainer, bars), fontsize=7, padding=1)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
