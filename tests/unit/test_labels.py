"""FER+ label modes through ingest and convert: alignment errors, drops by reason, soft targets."""

from pathlib import Path

import numpy as np
import pytest

from ferpipe.convert.stage import convert
from ferpipe.core.arrays import load_optional, load_split
from ferpipe.core.faces import read_faces
from ferpipe.core.paths import IngestOutputs
from ferpipe.core.schema import FERPLUS_CLASSES, VOTE_COLUMNS, DataError
from ferpipe.ingest.stage import ingest
from tests.conftest import config_of, fer_csv_text

# One vote row per face of the small_fer fixture (labels 0..6, three faces each, usages cycling
# Training, PublicTest, PrivateTest), in vote-file column order.
CLEAR = {"neutral": [8, 0, 0, 2, 0, 0, 0, 0, 0, 0], "happiness": [0, 9, 1, 0, 0, 0, 0, 0, 0, 0]}
NO_MAJORITY = [4, 0, 0, 4, 0, 0, 0, 0, 2, 0]
MOSTLY_UNKNOWN = [2, 0, 0, 0, 0, 0, 0, 0, 8, 0]
NOT_A_FACE = [0, 0, 0, 0, 0, 0, 0, 0, 0, 10]


def votes_text(usages, rows) -> str:
    lines = [",".join(("Usage", "Image name", *VOTE_COLUMNS))]
    lines += [
        f"{usage},fer{i:07d}.png,{','.join(map(str, row))}"
        for i, (usage, row) in enumerate(zip(usages, rows, strict=True))
    ]
    return "\n".join(lines) + "\n"


@pytest.fixture
def fer_with_votes(in_tmp, small_fer):
    labels, usages, faces = small_fer
    Path("fer2013.csv").write_text(fer_csv_text(labels, usages, faces))
    rows = [CLEAR["happiness"] if i % 2 else CLEAR["neutral"] for i in range(len(labels))]
    rows[0], rows[1], rows[2] = NO_MAJORITY, NO_MAJORITY, NO_MAJORITY  # one per split
    rows[3], rows[4] = MOSTLY_UNKNOWN, NOT_A_FACE  # Training, PublicTest
    Path("fer2013new.csv").write_text(votes_text(usages, rows))
    return labels, usages, rows


def run(labels_mode):
    return ingest(config_of("ingest", source="fer2013.csv", labels=labels_mode, ferplus_votes="fer2013new.csv"))


def test_majority_mode_counts_every_dropped_face_by_split_and_reason(fer_with_votes):
    report = run("ferplus_majority")
    assert report["labels"]["mode"] == "ferplus_majority"
    assert report["labels"]["names"] == list(FERPLUS_CLASSES)
    assert report["labels"]["dropped"] == {
        "train": {"no clear majority": 1, "mostly unknown": 1},
        "val": {"no clear majority": 1, "not a face": 1},
        "test": {"no clear majority": 1},
    }
    assert report["labels"]["kept"] == {"train": 5, "val": 5, "test": 6}
    assert sum(report["classes"]["train"].values()) == 5 and list(report["classes"]["train"]) == list(FERPLUS_CLASSES)
    table, _, metadata = read_faces(IngestOutputs().faces)
    frame = table.to_pandas()
    assert len(frame) == 21, "dropped faces stay in the validated table, with their reason"
    assert frame["label_dropped"].tolist()[:5] == ["no clear majority"] * 3 + ["mostly unknown", "not a face"]
    assert frame["label"].isna().sum() == 5
    assert metadata["labels"] == "ferplus_majority"


def test_convert_leaves_dropped_faces_out_and_keeps_the_original_labels_beside(fer_with_votes):
    labels, usages, rows = fer_with_votes
    run("ferplus_majority")
    manifest = convert()
    assert manifest["label_names"] == list(FERPLUS_CLASSES) and manifest["targets"] == "hard"
    assert {s: v["dropped_by_labels"] for s, v in manifest["splits"].items()} == {"train": 2, "val": 2, "test": 1}
    _, y_test = load_split(Path("data/arrays"), "test")
    kept_test = [i for i, u in enumerate(usages) if u == "PrivateTest" and rows[i] is not NO_MAJORITY]
    expected = [FERPLUS_CLASSES.index("happiness" if i % 2 else "neutral") for i in kept_test]
    assert y_test.tolist() == expected
    assert load_optional(Path("data/arrays"), "fer2013_test").tolist() == [labels[i] for i in kept_test]
    assert load_optional(Path("data/arrays"), "targets_train") is None


def test_probability_mode_trains_on_vote_shares_and_judges_on_the_majority(fer_with_votes):
    report = run("ferplus_probability")
    # The 4/4 split is a fine soft target for training, but has no majority to judge val or test by.
    assert report["labels"]["dropped"]["train"] == {"mostly unknown": 1}
    assert report["labels"]["dropped"]["val"] == {"no clear majority": 1, "not a face": 1}
    manifest = convert()
    assert manifest["targets"] == "soft"
    targets = load_optional(Path("data/arrays"), "targets_train")
    _, y_train = load_split(Path("data/arrays"), "train")
    assert targets.shape == (6, len(FERPLUS_CLASSES))
    np.testing.assert_allclose(targets[0], [0.5, 0, 0, 0.5, 0, 0, 0, 0])  # unknown's 2 votes are not an emotion
    np.testing.assert_allclose(targets.sum(axis=1), 1, rtol=1e-6)
    assert (targets.argmax(axis=1) == y_train).all()


def test_misaligned_vote_file_fails_naming_file_line_and_field_and_writes_nothing(fer_with_votes):
    _, usages, rows = fer_with_votes
    shifted = usages[1:] + usages[:1]  # the same rows, one line off
    Path("fer2013new.csv").write_text(votes_text(shifted, rows))
    with pytest.raises(
        DataError,
        match=r"fer2013new.csv: line 2, field Usage: 'PublicTest' but the image row says "
        r"'Training'",
    ):
        run("ferplus_majority")
    Path("fer2013new.csv").write_text(votes_text(usages[:-1], rows[:-1]))
    with pytest.raises(DataError, match="fer2013new.csv: 20 vote rows for 21 images"):
        run("ferplus_majority")
    assert not any(Path(p).exists() for p in vars(IngestOutputs()).values())


def test_fer_plus_modes_need_the_vote_file(in_tmp, small_fer):
    Path("fer2013.csv").write_text(fer_csv_text(*small_fer))
    with pytest.raises(DataError, match="missing.csv: FER\\+ vote file not found \\(ingest.ferplus_votes\\)"):
        ingest(config_of("ingest", source="fer2013.csv", labels="ferplus_majority", ferplus_votes="missing.csv"))
    report = ingest(config_of("ingest", source="fer2013.csv", ferplus_votes="missing.csv"))  # fer2013 labels: not read
    assert report["labels"]["mode"] == "fer2013" and report["labels"]["dropped"] == {"train": {}, "val": {}, "test": {}}
