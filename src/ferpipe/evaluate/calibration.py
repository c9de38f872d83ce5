"""Calibration: whether the probabilities mean what they say, and temperature scaling.

A model calibrated in this sense is right on 80% of the faces it gives 0.8. The figures, pure
functions of labels and probabilities:
- top-class expected calibration error (ECE; Guo et al., 2017): the faces binned by their top
  probability in 15 equal-width bins, the gap between each bin's accuracy and its mean top
  probability, weighted by the bin's share of faces;
- class-wise ECE (Kull et al., 2019): the same gap for every class's probability against
  whether the face is of that class, averaged over classes;
- the multiclass Brier score (mean squared distance to the one-hot label, 0 to 2) and log loss.

Temperature scaling divides the network's logits by one number T (probabilities become
p^(1/T), renormalised): T > 1 softens an over-confident network. T is fitted on the validation
split (PublicTest) only, to minimise its log loss (`fit_temperature` says how); the predicted
class never changes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.metrics import brier_score_loss, log_loss

from ferpipe.core.inference import scaled

BINS = 15


def bin_of(score: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Each score's equal-width bin: (0, 1/15] is bin 0, (14/15, 1] bin 14 (a score of 0 joins bin 0)."""
    return np.clip(np.ceil(score * bins).astype(int) - 1, 0, bins - 1)


def binned_gap(score: np.ndarray, outcome: np.ndarray, bins: int = BINS) -> float:
    """Σ over equal-width bins of score of |bin| / n x |mean outcome - mean score| in that bin."""
    index = bin_of(score, bins)
    gap = np.bincount(index, weights=outcome, minlength=bins) - np.bincount(index, weights=score, minlength=bins)
    return float(np.abs(gap).sum() / len(score))


def expected_calibration_error(labels: np.ndarray, probabilities: np.ndarray, bins: int = BINS) -> float:
    return binned_gap(probabilities.max(axis=1), (probabilities.argmax(axis=1) == labels).astype(float), bins)


def classwise_calibration_error(labels: np.ndarray, probabilities: np.ndarray, bins: int = BINS) -> float:
    return float(
        np.mean(
            [binned_gap(probabilities[:, k], (labels == k).astype(float), bins) for k in range(probabilities.shape[1])]
        )
    )


def distribution(probabilities: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """Rows in float64 that sum to 1 as scikit-learn checks it: float32 rows sum to 1 only roughly,
    and a `floor` under tiny probabilities adds to the sum (scikit-learn then warns at every run)."""
    rows = np.maximum(np.asarray(probabilities, dtype=np.float64), floor)
    return rows / rows.sum(axis=1, keepdims=True)


def brier_score(labels: np.ndarray, probabilities: np.ndarray) -> float:
    return float(
        brier_score_loss(
            labels, distribution(probabilities), labels=list(range(probabilities.shape[1])), scale_by_half=False
        )
    )


def log_loss_of(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Log loss with each probability floored at 1e-7: one confident mistake costs at most 16 nats."""
    return float(log_loss(labels, distribution(probabilities, 1e-7), labels=list(range(probabilities.shape[1]))))


def calibration_figures(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    return {
        "ece": expected_calibration_error(labels, probabilities),
        "classwise_ece": classwise_calibration_error(labels, probabilities),
        "brier": brier_score(labels, probabilities),
        "log_loss": log_loss_of(labels, probabilities),
    }


def calibration_metrics(
    y_eval: np.ndarray, eval_probabilities: np.ndarray, y_val: np.ndarray, val_probabilities: np.ndarray, method: str
) -> dict[str, Any]:
    """The evaluated split's calibration before and after scaling by the temperature fitted on val."""
    if len(y_eval) == 0:
        return {"method": method, "temperature": 1.0, "before": {}, "after": {}}
    temperature = fit_temperature(y_val, val_probabilities) if method == "temperature" and len(y_val) else 1.0
    calibrated = eval_probabilities if temperature == 1.0 else scaled(eval_probabilities, temperature)
    return {
        "method": method,
        "temperature": temperature,
        "fitted_on": "val (PublicTest)",
        "bins": BINS,
        "before": calibration_figures(y_eval, eval_probabilities),
        "after": calibration_figures(y_eval, calibrated),
        "reliability": {
            "before": reliability_bins(y_eval, eval_probabilities),
            "after": reliability_bins(y_eval, calibrated),
        },
    }


def fit_temperature(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """The T that minimises the mean log loss of `scaled(probabilities, T)` on these (validation) faces.

    A one-parameter fit of our own, by the method scikit-learn's temperature scaling uses (Brent's
    bounded search over log T): its wrapper, CalibratedClassifierCV, fits a classifier on features
    and fails when a class is missing from the calibration labels (small splits, FER+'s contempt),
    while here the probabilities are already computed. T = 1 (no change) is kept unless the fit
    lowers the validation log loss, so calibration can never make it worse.
    """
    log_probabilities = np.log(np.clip(np.asarray(probabilities, dtype=np.float64), 1e-12, 1))
    rows = np.arange(len(labels))

    def loss(log_temperature: float) -> float:
        logits = log_probabilities / np.exp(log_temperature)
        logits -= logits.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(logits).sum(axis=1)) - logits[rows, labels]))

    fitted = minimize_scalar(loss, bounds=(-5.0, 5.0), method="bounded", options={"xatol": 1e-6})
    return float(np.exp(fitted.x)) if fitted.success and fitted.fun < loss(0.0) else 1.0


def reliability_bins(labels: np.ndarray, probabilities: np.ndarray, bins: int = BINS) -> list[dict[str, float]]:
    """Per non-empty bin of top probability: its mean confidence, accuracy and count (the diagram's points)."""
    confidence = probabilities.max(axis=1)
    correct = (probabilities.argmax(axis=1) == labels).astype(float)
    index = bin_of(confidence, bins)
    counts = np.bincount(index, minlength=bins)
    sums = np.bincount(index, weights=confidence, minlength=bins), np.bincount(index, weights=correct, minlength=bins)
    return [
        {
            "bin": int(b),
            "confidence": float(sums[0][b] / counts[b]),
            "accuracy": float(sums[1][b] / counts[b]),
            "count": int(counts[b]),
        }
        for b in range(bins)
        if counts[b]
    ]
