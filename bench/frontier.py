"""The frontier of what CPU training minutes buy on FER2013.

Reads the recorded runs in `bench/frontier.csv` (each row's source section in BENCHMARKS.md
holds its command and full results) and draws PrivateTest accuracy with its 95% bootstrap
interval against wall-clock minutes of training on a 2-core CPU, one marker per CPU kind,
with the published anchors; writes `bench/frontier.png`, which BENCHMARKS.md shows. Beside it,
`bench/search.csv`'s candidates of a search at equal cost: PublicTest accuracy (what chose;
their PrivateTest was never read) with training minutes, coloured by rung, written to
`bench/search.png`.

    python bench/frontier.py
"""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

HERE = Path(__file__).resolve().parent
ANCHORS = {"humans ≈ 0.65": 0.65, "target 0.68": 0.68, "Kaggle 2013 winner 0.712": 0.7116}
MARKERS = {"AVX-512": "o", "AVX2": "s", "AVX-512+AMX": "D"}


def main() -> None:
    runs = list(csv.DictReader(open(HERE / "frontier.csv")))
    figure, (axis, key) = plt.subplots(2, 1, figsize=(9, 7.6), height_ratios=(4, 1))
    entries: list[str] = []
    for cpu, marker in MARKERS.items():
        chosen = [r for r in runs if r["cpu"] == cpu]
        if not chosen:
            continue
        x = [float(r["train_minutes"]) for r in chosen]
        y = [float(r["private_test"]) for r in chosen]
        errors = [
            [a - float(r["ci95_low"]) for a, r in zip(y, chosen, strict=True)],
            [float(r["ci95_high"]) - a for a, r in zip(y, chosen, strict=True)],
        ]
        axis.errorbar(x, y, yerr=errors, fmt=marker, capsize=4, label=f"2-core CPU with {cpu}")
        for run, xi, yi in zip(chosen, x, y, strict=True):
            # Each point is numbered, the key below says what it is: the points crowd, their names would
            # not fit. A row's label_dy (points) moves its number clear of a neighbour; "none" leaves a
            # point to the number of its group (the seeds of one recipe).
            if run.get("label_dy") == "none":
                continue
            entries.append(
                f"{len(entries) + 1}. {run['recipe']} ({run['arch']}, {cpu}{', shared' if run['shared'] == 'yes' else ''})"
            )
            dy = float(run["label_dy"]) if run.get("label_dy") else 0
            axis.annotate(str(len(entries)), (xi, yi), textcoords="offset points", xytext=(6, dy - 3), fontsize=8)
    for name, value in ANCHORS.items():
        axis.axhline(value, color="grey", linestyle="--", linewidth=0.8)
        axis.text(0.01, value, name, transform=axis.get_yaxis_transform(), va="bottom", fontsize=7, color="grey")
    axis.axvline(60, color="grey", linestyle=":", linewidth=0.8)
    axis.set_xscale("log")
    axis.set_xticks([20, 30, 45, 60, 90, 120, 180, 240], labels=["20", "30", "45", "60", "90", "120", "180", "240"])
    axis.minorticks_off()
    axis.set_xlim(20, 400)
    axis.set_xlabel("wall-clock minutes of training (log scale)")
    axis.set_ylabel("PrivateTest accuracy (95% bootstrap CI)")
    axis.set_title("FER2013 on a CPU: accuracy against training time")
    axis.legend(loc="lower left", fontsize=8)
    key.axis("off")
    half = (len(entries) + 1) // 2
    for column, part in enumerate((entries[:half], entries[half:])):
        key.text(column * 0.54, 1.0, "\n".join(part), va="top", fontsize=6.8, transform=key.transAxes)
    figure.tight_layout()
    figure.savefig(HERE / "frontier.png", dpi=110)
    search()


def search() -> None:
    """Each candidate's PublicTest accuracy as a bar, best first, its rung in colour and its
    training minutes at the bar's end: a rung's candidates cost about the same, so the bars compare."""
    candidates = sorted(csv.DictReader(open(HERE / "search.csv")), key=lambda c: float(c["val_accuracy"]))
    figure, axis = plt.subplots(figsize=(8, 5.5))
    colours = {"1": "tab:blue", "2": "tab:orange"}
    y = range(len(candidates))
    accuracy = [float(c["val_accuracy"]) for c in candidates]
    axis.barh(y, accuracy, color=[colours[c["rung"]] for c in candidates])
    for yi, value, c in zip(y, accuracy, candidates, strict=True):
        axis.text(
            value + 0.002,
            yi,
            f"{value:.4f}, {float(c['train_minutes']):.1f} min, {c['epochs']} epochs",
            va="center",
            fontsize=7,
        )
    axis.set_yticks(list(y), [c["candidate"] for c in candidates], fontsize=7.5)
    axis.set_xlim(0.45, 0.76)
    axis.set_xlabel("PublicTest accuracy (what selects; PrivateTest unread until the winner)")
    rungs = {"1": "rung 1: a sixth of each recipe's epochs, trained only", "2": "rung 2: the leader, full budget"}
    handles = [Patch(color=colours[rung], label=label) for rung, label in rungs.items()]
    axis.legend(handles=handles, loc="lower right", fontsize=8)
    axis.set_title(
        f"Successive halving at equal cost (budget {float(candidates[0]['budget_minutes']):g} min, "
        f"2-core {candidates[0]['cpu']})",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(HERE / "search.png", dpi=110)


if __name__ == "__main__":
    main()
