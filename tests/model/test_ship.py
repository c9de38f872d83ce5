"""`ferpipe ship`: only a real-data registered version becomes the packaged model."""

from dataclasses import replace

import pytest

from ferpipe.evaluate.stage import evaluate
from ferpipe.tools.ship import ship
from ferpipe.train.stage import train
from tests.conftest import config_of
from tests.model.conftest import TINY

pytestmark = pytest.mark.slow  # a TensorFlow model, trained


def test_a_model_trained_on_synthetic_data_is_never_shipped(workspace, tmp_path):
    tracking = config_of("tracking", experiment="ship-tests")
    train(replace(TINY, epochs=1), tracking)
    evaluate(config_of("evaluate", bootstrap_samples=20), tracking)
    with pytest.raises(ValueError, match="trained on synthetic data, not the real FER2013"):
        ship("models:/fer2013-expression-synthetic@challenger", root=tmp_path / "packaged")
    assert not (tmp_path / "packaged").exists()
    with pytest.raises(ValueError, match="name a registered version"):
        ship("models/model.keras", root=tmp_path / "packaged")
