"""Calibration figures on examples worked by hand, and temperature scaling's promises: fitted on
validation it never raises the validation log loss, and it never changes the predicted class."""

import numpy as np
import pytest
from sklearn.metrics import log_loss

from ferpipe.core.inference import scaled
from ferpipe.evaluate.calibration import (
    brier_score,
    calibration_metrics,
    classwise_calibration_error,
    expected_calibration_error,
    fit_temperature,
    reliability_bins,
)

# Top probabilities 0.9 and 0.92 share the bin (13/15, 14/15]; 0.7 and 0.42 have bins of their own.
PROBABILITIES = np.array(
    [
        [0.90, 0.05, 0.05],  # class 0: right
        [0.92, 0.04, 0.04],  # class 2: wrong
        [0.20, 0.70, 0.10],  # class 1: right
        [0.30, 0.28, 0.42],
    ]
)  # class 0: wrong (says 2)
LABELS = np.array([0, 2, 1, 0])


def test_ece_by_hand():
    # Bins: |1 + 0 - (0.90 + 0.92)| = 0.82, |1 - 0.70| = 0.30, |0 - 0.42| = 0.42; over 4 faces.
    assert expected_calibration_error(LABELS, PROBABILITIES) == pytest.approx((0.82 + 0.30 + 0.42) / 4)
    assert [(b["count"], round(b["accuracy"], 6)) for b in reliability_bins(LABELS, PROBABILITIES)] == [
        (1, 0.0),
        (1, 1.0),
        (2, 0.5),
    ]


def test_brier_by_hand():
    # Squared distance to the one-hot label, summed over classes, averaged over faces.
    by_face = [
        0.1**2 + 0.05**2 + 0.05**2,
        0.92**2 + 0.04**2 + 0.96**2,
        0.2**2 + 0.3**2 + 0.1**2,
        0.7**2 + 0.28**2 + 0.42**2,
    ]
    assert brier_score(LABELS, PROBABILITIES) == pytest.approx(np.mean(by_face))


def test_classwise_ece_is_the_mean_of_each_classs_gap():
    # Class 2's probabilities 0.05, 0.04, 0.10, 0.42 against is-class-2 0, 1, 0, 0: bins (0, 1/15] holds
    # 0.05 and 0.04 (|1 - 0.09|), (1/15, 2/15] holds 0.10, (6/15, 7/15] holds 0.42.
    class_2 = (abs(1 - 0.09) + 0.10 + 0.42) / 4
    class_0 = (abs(1 + 0 - 1.82) + abs(0 - 0.20) + abs(1 - 0.30)) / 4
    class_1 = (abs(0 - 0.09) + abs(1 - 0.70) + abs(0 - 0.28)) / 4
    assert classwise_calibration_error(LABELS, PROBABILITIES) == pytest.approx((class_0 + class_1 + class_2) / 3)


def sample(count: int, sharpness: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(logits), reported as softmax(sharpness x logits): over-confident
    when sharpness > 1, under-confident when < 1, calibrated at 1."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2, (count, 7))
    truth = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(7, p=row) for row in truth])
    shown = np.exp(sharpness * logits)
    return labels, (shown / shown.sum(axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("sharpness", [3.0, 1.0, 0.4])
def test_the_fitted_temperature_never_raises_validation_log_loss_nor_changes_a_prediction(sharpness):
    labels, probabilities = sample(1500, sharpness, seed=int(sharpness * 10))
    temperature = fit_temperature(labels, probabilities)
    calibrated = scaled(probabilities, temperature)
    assert log_loss(labels, calibrated, labels=range(7)) <= log_loss(labels, probabilities, labels=range(7)) + 1e-9
    np.testing.assert_array_equal(calibrated.argmax(axis=1), probabilities.argmax(axis=1))
    np.testing.assert_allclose(calibrated.sum(axis=1), 1, rtol=1e-9)
    assert temperature == pytest.approx(sharpness, rel=0.15)  # it undoes the distortion it was shown


def test_a_temperature_fitted_on_validation_calibrates_test():
    labels, probabilities = sample(6000, 2.5, seed=1)
    val, test = slice(0, 3000), slice(3000, None)
    figures = calibration_metrics(labels[test], probabilities[test], labels[val], probabilities[val], "temperature")
    assert figures["before"]["ece"] > 0.1 and figures["after"]["ece"] < 0.03
    assert figures["after"]["brier"] < figures["before"]["brier"]
    off = calibration_metrics(labels[test], probabilities[test], labels[val], probabilities[val], "none")
    assert off["temperature"] == 1.0 and off["after"] == off["before"]


def test_a_class_missing_from_validation_is_no_obstacle():
    labels, probabilities = sample(800, 2.0, seed=3)
    keep = labels != 1
    assert fit_temperature(labels[keep], probabilities[keep]) > 1


def test_confident_float32_probabilities_score_without_a_warning():
    # A network trained without label smoothing gives probabilities below 1e-7; flooring them made
    # rows sum above 1 by more than float64's tolerance (temperature-scaled rows are float64), and
    # scikit-learn warned "y_prob values do not sum to one" at every evaluate.
    import warnings

    from ferpipe.evaluate.calibration import calibration_figures, log_loss_of

    for dtype in (np.float32, np.float64):
        probabilities = np.array([[1 - 3e-9, 1e-9, 1e-9, 1e-9], [0.2, 0.3, 0.5, 0.0]], dtype=dtype)
        labels = np.array([0, 2])
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            figures = calibration_figures(labels, probabilities)
        expected = -np.mean([np.log(1 - 3e-9), np.log(0.5)])
        assert figures["log_loss"] == log_loss_of(labels, probabilities) == pytest.approx(expected, rel=1e-5)
