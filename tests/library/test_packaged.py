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


@pytest.mark.parametrize("document", ["README.md", "docs/packaged.md"])
def test_the_documents_state_the_packaged_models_figures_as_their_metadata_does(document):
    from tests.conftest import REPO_ROOT

    text = " ".join((REPO_ROOT / document).read_text().split())
    for family in ("fer2013", "ferplus"):
        test = packaged.packaged(family).metadata["test"]
        assert f"{test['accuracy']:.4f}" in text, f"{document} does not state {family}'s {test['accuracy']:.4f}"
        if family == "fer2013":
            low, high = test["accuracy_ci95"]
            assert f"{low:.4f}–{high:.4f}" in text, f"{document}: {family}'s interval"
