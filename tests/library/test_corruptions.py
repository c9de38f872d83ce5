"""The corruptions the robustness figures are measured under: each changes the faces, more at each
severity, the same every time, and keeps them 48x48 uint8."""

import numpy as np
import pytest

from ferpipe.tools.corruptions import CORRUPTIONS, SEVERITIES, markdown, robustness
from tests.conftest import random_faces


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_each_corruption_worsens_with_its_severity_and_repeats_itself(name):
    faces = np.stack([np.outer(np.linspace(40, 220, 48), np.ones(48)).astype(np.uint8)] * 3)
    faces[1] = random_faces(1, seed=2).reshape(48, 48)
    distances = []
    for severity in SEVERITIES:
        corrupted = CORRUPTIONS[name](faces, severity)
        assert corrupted.shape == faces.shape and corrupted.dtype == np.uint8
        np.testing.assert_array_equal(corrupted, CORRUPTIONS[name](faces, severity))
        distances.append(np.abs(corrupted.astype(float) - faces).mean())
    assert 0 < distances[0] < distances[1] < distances[2], distances


def test_the_table_gives_each_corruption_s_accuracy_and_its_drop_from_clean():
    faces, labels = random_faces(20, seed=4).reshape(20, 48, 48), np.arange(20) % 2

    def predict(batch):  # "bright faces are class 1": right on half the clean faces, or so
        return np.stack([batch.mean(axis=(1, 2, 3)) < 127.5, batch.mean(axis=(1, 2, 3)) >= 127.5], axis=1)

    table = robustness(predict, faces, labels)
    assert set(table) == {"clean", *CORRUPTIONS} and all(len(v) == 3 for k, v in table.items() if k != "clean")
    text = markdown(table)
    assert text.splitlines()[2] == f"| none | {table['clean']:.4f} | | |" and len(text.splitlines()) == 3 + len(
        CORRUPTIONS
    )
