"""The packaged models: usable with the LiteRT interpreter alone, and named when absent."""

import subprocess
import sys

import pytest

from ferpipe import packaged

pytestmark = pytest.mark.slow  # a process of its own


def test_a_packaged_model_runs_without_tensorflow_keras_or_mlflow():
    probe = (
        "import sys, numpy as np; from ferpipe import packaged; model, meta = packaged.load(); "
        "p = model.predict_on_batch(np.zeros((3, 48, 48, 1), np.uint8)); "
        "print(p.shape, round(float(p.sum()), 3), [m for m in ('tensorflow', 'keras', 'mlflow') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[-2] == "(3, 7) 3.0 []"


def test_a_family_with_no_packaged_model_says_how_to_get_one(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no packaged ferplus model .* ferpipe ship models:/"):
        packaged.packaged("ferplus", root=tmp_path)
