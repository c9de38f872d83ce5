"""FER+ label construction on small hand-made vote tables, and vote-file alignment errors."""

import numpy as np
import pytest

from ferpipe.core.schema import FERPLUS_CLASSES
from ferpipe.ingest.ferplus import (
    VoteFileError,
    check_alignment,
    ferplus_labels,
    read_votes,
)

# Columns: neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF
CLEAR_HAPPY = [1, 8, 1, 0, 0, 0, 0, 0, 0, 0]
SPLIT_SAD_NEUTRAL = [4, 0, 0, 4, 0, 0, 0, 0, 2, 0]
MOSTLY_UNKNOWN = [2, 0, 0, 0, 0, 0, 0, 0, 8, 0]
NOT_A_FACE = [0, 0, 0, 0, 0, 0, 0, 0, 0, 10]
SINGLE_VOTES_ONLY = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
OUTLIER_DECIDES = [5, 0, 0, 0, 0, 0, 0, 0, 0, 1]  # the lone NF vote is dropped: 5 of 5 neutral


def test_majority_keeps_clear_winners_and_says_why_it_drops_the_rest():
    labels = ferplus_labels(
        np.array([CLEAR_HAPPY, SPLIT_SAD_NEUTRAL, MOSTLY_UNKNOWN, NOT_A_FACE, SINGLE_VOTES_ONLY, OUTLIER_DECIDES]),
        "majority",
    )
    assert labels.keep.tolist() == [True, False, False, False, False, True]
    assert labels.targets.shape == (6, len(FERPLUS_CLASSES))
    assert labels.targets[0].tolist() == [0, 1, 0, 0, 0, 0, 0, 0]  # the single neutral and surprise votes are outliers
    assert labels.targets[5].argmax() == FERPLUS_CLASSES.index("neutral")
    assert labels.dropped == {"no clear majority": 2, "mostly unknown": 1, "not a face": 1}


def test_probability_spreads_over_the_top_emotions_until_they_hold_three_quarters():
    five_three_two = [5, 3, 2, 0, 0, 0, 0, 0, 0, 0]  # 5 + 3 already hold 80%: the 2 are not needed
    four_three_three = [4, 3, 3, 0, 0, 0, 0, 0, 0, 0]  # 4 holds 40%; the tied 3s come in together
    labels = ferplus_labels(np.array([SPLIT_SAD_NEUTRAL, five_three_two, four_three_three, CLEAR_HAPPY]), "probability")
    assert labels.keep.tolist() == [True, True, True, True]
    np.testing.assert_allclose(labels.targets[0], [0.5, 0, 0, 0.5, 0, 0, 0, 0])  # unknown's 2 votes left out
    np.testing.assert_allclose(labels.targets[1], [0.625, 0.375, 0, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(labels.targets[2], [0.4, 0.3, 0.3, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(labels.targets[3], [0, 1, 0, 0, 0, 0, 0, 0])


def test_probability_drops_unknown_winners_and_spreads_too_wide():
    four_way_tie = [2, 2, 2, 2, 0, 0, 0, 0, 0, 0]  # four tied classes: more than three
    labels = ferplus_labels(np.array([MOSTLY_UNKNOWN, NOT_A_FACE, four_way_tie]), "probability")
    assert labels.keep.tolist() == [False, False, False]
    assert labels.dropped == {"no clear majority": 1, "mostly unknown": 1, "not a face": 1}
    assert not labels.targets.any()


def test_unknown_mode_is_rejected_by_name():
    with pytest.raises(ValueError, match="ingest.labels"):
        ferplus_labels(np.array([CLEAR_HAPPY]), "plurality")


HEADER = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF\n"


def test_vote_file_reads_usage_and_counts(tmp_path):
    path = tmp_path / "fer2013new.csv"
    path.write_text(HEADER + "Training,fer0.png,4,0,0,1,3,2,0,0,0,0\nPublicTest,,0,0,0,0,0,0,0,0,0,10\n")
    usage, votes = read_votes(path)
    assert usage.tolist() == ["Training", "PublicTest"]
    assert votes.tolist() == [[4, 0, 0, 1, 3, 2, 0, 0, 0, 0], [0] * 9 + [10]]


def test_vote_file_with_a_missing_column_names_it(tmp_path):
    path = tmp_path / "fer2013new.csv"
    path.write_text(HEADER.replace(",NF", "") + "Training,fer0.png,4,0,0,1,3,2,0,0,0\n")
    with pytest.raises(VoteFileError, match=r"fer2013new.csv.*\['NF'\]"):
        read_votes(path)


@pytest.mark.parametrize("cell", ["x", "-1", "2.5", ""])
def test_vote_file_with_a_bad_count_names_line_and_field(tmp_path, cell):
    path = tmp_path / "fer2013new.csv"
    good = "Training,fer0.png,4,0,0,1,3,2,0,0,0,0\n"
    path.write_text(HEADER + good + good + f"Training,fer2.png,4,0,0,1,3,2,{cell},0,0,0\n")
    with pytest.raises(VoteFileError, match=r"fer2013new.csv: line 4, field fear: .* is not a vote count"):
        read_votes(path)


def test_vote_file_must_line_up_with_the_images_row_by_row():
    with pytest.raises(VoteFileError, match="3 vote rows for 2 images"):
        check_alignment("v.csv", np.array(["Training"] * 3), np.array(["Training"] * 2))
    with pytest.raises(VoteFileError, match=r"v.csv: line 3, field Usage: 'PublicTest'.*'Training'"):
        check_alignment("v.csv", np.array(["Training", "PublicTest"]), np.array(["Training", "Training"]))
    check_alignment("v.csv", np.array(["Training", "PrivateTest"]), np.array(["Training", "PrivateTest"]))
