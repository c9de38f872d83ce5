"""Data tests on the real FER2013 file (skipped with the reason when it is absent)."""

import numpy as np
import pytest

from ferpipe.convert.stage import convert
from ferpipe.core.arrays import load_split
from ferpipe.core.files import sha256_of
from ferpipe.ingest.stage import ingest
from tests.conftest import config_of, require_real_data, require_real_votes

pytestmark = [pytest.mark.slow, pytest.mark.real_data]


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    source = require_real_data()
    folder = tmp_path_factory.mktemp("real")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        report = ingest(config_of("ingest", source=str(source)))
        manifest = convert()
    return report, manifest, folder


def test_split_sizes_are_the_published_ones(real):
    report, _, _ = real
    assert report["rows"]["by_usage"] == {"Training": 28709, "PublicTest": 3589, "PrivateTest": 3589}
    assert report["rows"]["rejected"] == 0
    assert report["data"] == "real"


def test_class_counts_are_the_published_ones(real):
    report, _, _ = real
    assert list(report["classes"]["train"].values()) == [3995, 436, 4097, 7215, 4830, 3171, 4965]
    assert list(report["classes"]["val"].values()) == [467, 56, 496, 895, 653, 415, 607]
    assert list(report["classes"]["test"].values()) == [491, 55, 528, 879, 594, 416, 626]


def test_duplicates_and_leakage_between_splits(real):
    duplicates = real[0]["duplicates"]
    assert duplicates["val_rows_seen_in_train"] == 280
    assert duplicates["test_rows_seen_in_train"] == 288
    assert duplicates["test_rows_seen_in_val"] == 44
    assert (duplicates["groups"], duplicates["rows_in_groups"]) == (1516, 3369)
    assert duplicates["groups_with_conflicting_labels"] == 57
    assert duplicates["within_split_label_conflicts"] == 42
    assert real[0]["constant_images"] == {"rows": 12, "by_value": {"0": 12}}


def test_arrays_match_the_report_and_first_row_is_kaggles(real):
    _, manifest, folder = real
    x_train, y_train = load_split(folder / "data/arrays", "train")
    assert x_train.shape == (28709, 48, 48, 1) and x_train.dtype == np.uint8
    # Row 0 of the Kaggle file: label 0 (angry), pixels "70 80 82 72 58 ...".
    assert y_train[0] == 0 and x_train[0, 0, :5, 0].tolist() == [70, 80, 82, 72, 58]
    assert int(np.load(folder / "data/arrays/test_seen_in_train.npy").sum()) == 288
    assert manifest["source_sha256"] == sha256_of(require_real_data())


@pytest.mark.parametrize("mode", ["ferplus_majority", "ferplus_probability"])
def test_ferplus_votes_line_up_and_drop_what_the_ferplus_rules_drop(mode, tmp_path, monkeypatch):
    votes = require_real_votes()
    monkeypatch.chdir(tmp_path)
    labels = ingest(config_of("ingest", source=str(require_real_data()), labels=mode, ferplus_votes=str(votes)))[
        "labels"
    ]
    # Val and test are judged on the majority label in both modes, so they keep the same faces.
    assert (labels["kept"]["val"], labels["kept"]["test"]) == (3199, 3153)
    assert labels["kept"]["train"] == {"ferplus_majority": 25060, "ferplus_probability": 27956}[mode]
    assert labels["dropped"]["test"] == {"mostly unknown": 10, "no clear majority": 410, "not a face": 16}
    # FER2013's labels are noisy: for about a third of the faces kept, FER+ names another expression.
    assert 0.6 < labels["agreement_with_fer2013_labels"] < 0.75


@pytest.fixture(scope="module")
def real_ferplus(tmp_path_factory):
    """The real data converted with FER+'s labels: what a FER+ model is scored on."""
    source, votes = require_real_data(), require_real_votes()
    folder = tmp_path_factory.mktemp("real-ferplus")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        ingest(config_of("ingest", source=str(source), labels="ferplus_probability", ferplus_votes=str(votes)))
        manifest = convert()
    return None, manifest, folder


@pytest.mark.parametrize("family", ["fer2013", "ferplus"])
def test_each_packaged_model_scores_on_the_real_private_test_what_its_metadata_says(request, family):
    from ferpipe import packaged

    try:
        model = packaged.packaged(family)
    except FileNotFoundError as missing:
        pytest.skip(str(missing))
    metadata = model.metadata
    _, manifest, folder = request.getfixturevalue("real" if family == "fer2013" else "real_ferplus")
    assert manifest["labels"] == metadata["labels"]
    assert metadata["dataset_sha256"] == sha256_of(require_real_data()) == manifest["source_sha256"]
    network, _ = packaged.load(family)
    x_test, y_test = load_split(folder / "data/arrays", "test")
    accuracy = float(np.mean(network.predict_on_batch(np.asarray(x_test)).argmax(axis=1) == y_test))
    assert accuracy == pytest.approx(metadata["test"]["accuracy"], abs=1e-4)
    assert metadata["test"]["rows"] == len(y_test) and (family != "fer2013" or len(y_test) == 3589)
