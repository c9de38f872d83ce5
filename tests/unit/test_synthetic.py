import shutil

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from ferpipe.ingest.stage import ingest
from ferpipe.synthesize.stage import draw_faces, sample_labels, write_synthetic_csv
from tests.conftest import config_of, fer_csv_text


@pytest.mark.slow  # fits a classifier on a thousand drawn faces (about 10 s): not for the edit-test loop
def test_expressions_are_learnable_far_above_chance():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(7), 150)
    faces = draw_faces(labels, rng).reshape(len(labels), -1) / 255.0
    order = rng.permutation(len(labels))
    train, test = order[:800], order[800:]
    model = LogisticRegression(max_iter=2000).fit(faces[train], labels[train])
    accuracy = model.score(faces[test], labels[test])
    # Chance is 1/7; even a linear model on raw pixels, blind to pose, must do far better.
    assert accuracy > 0.5, f"synthetic classes should be clearly separable, got {accuracy:.2f}"


def test_faces_vary_within_a_class():
    faces = draw_faces(np.zeros(20, dtype=int), np.random.default_rng(1)).astype(float)
    assert faces.std(axis=0).mean() > 10


def test_labels_follow_fer2013_imbalance_and_cover_every_class():
    labels = sample_labels(2000, np.random.default_rng(2))
    counts = np.bincount(labels, minlength=7)
    assert counts.min() > 0
    assert counts[3] > 5 * counts[1]  # happy far outnumbers disgust, as in FER2013


def test_written_file_is_deterministic_and_flagged_synthetic_downstream(in_tmp):
    config = config_of("synthetic", seed=5, rows={"Training": 30, "PublicTest": 10, "PrivateTest": 10})
    write_synthetic_csv(in_tmp / "a.csv", config)
    write_synthetic_csv(in_tmp / "b.csv", config)
    assert (in_tmp / "a.csv").read_bytes() == (in_tmp / "b.csv").read_bytes()
    assert set(pd.read_csv(in_tmp / "a.csv")["generator"]) == {"ferpipe synthesize (seed 5)"}

    report = ingest(config_of("ingest", source="a.csv"))
    assert report["data"] == "synthetic"
    assert report["rows"]["by_usage"] == {"Training": 30, "PublicTest": 10, "PrivateTest": 10}
    assert any("SYNTHETIC" in note for note in report["notes"])


def test_the_data_itself_says_it_is_synthetic_wherever_it_is_copied(in_tmp):
    # No marker file beside it that a clone, `dvc exp run --temp` or a queued run could lose.
    write_synthetic_csv(in_tmp / "fer2013.csv", config_of("synthetic", rows={"Training": 14, "PublicTest": 7}))
    (in_tmp / "elsewhere").mkdir()
    shutil.copy(in_tmp / "fer2013.csv", in_tmp / "elsewhere/real_looking.csv")
    assert ingest(config_of("ingest", source="elsewhere/real_looking.csv"))["data"] == "synthetic"


def test_replacing_the_synthetic_file_with_real_data_is_not_called_synthetic(in_tmp, small_fer):
    write_synthetic_csv(in_tmp / "fer2013.csv", config_of("synthetic", rows={"Training": 7, "PublicTest": 7}))
    (in_tmp / "fer2013.csv").write_text(fer_csv_text(*small_fer))
    assert ingest(config_of("ingest", source="fer2013.csv"))["data"] == "real"


def test_vote_file_lines_up_with_the_faces_and_leaves_them_unchanged(tmp_path):
    from ferpipe.ingest.ferplus import check_alignment, ferplus_labels, read_votes

    config = config_of("synthetic", rows={"Training": 60, "PublicTest": 20, "PrivateTest": 20})
    write_synthetic_csv(tmp_path / "plain.csv", config)
    write_synthetic_csv(tmp_path / "fer2013.csv", config, tmp_path / "fer2013new.csv")
    assert (tmp_path / "plain.csv").read_bytes() == (tmp_path / "fer2013.csv").read_bytes()
    table = pd.read_csv(tmp_path / "fer2013.csv")
    usage, votes = read_votes(tmp_path / "fer2013new.csv")
    check_alignment(tmp_path / "fer2013new.csv", usage, table["Usage"].to_numpy())
    assert (votes.sum(axis=1) == 10).all()
    majority = ferplus_labels(votes, "majority")
    assert 0.6 < majority.keep.mean() < 1, "most faces have a clear winner, some do not"


def test_a_usage_with_no_rows_is_left_out(tmp_path):
    from ferpipe.synthesize.stage import write_synthetic_csv
    from tests.conftest import config_of

    rows = write_synthetic_csv(
        tmp_path / "f.csv", config_of("synthetic", rows={"Training": 5, "PublicTest": 0, "PrivateTest": 2})
    )
    lines = (tmp_path / "f.csv").read_text().splitlines()[1:]
    assert rows == 7 and [line.split(",")[2] for line in lines] == ["Training"] * 5 + ["PrivateTest"] * 2
