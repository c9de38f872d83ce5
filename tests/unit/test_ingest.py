"""Every accepted input form, every validation rule, and the stage's all-or-nothing outputs."""

import csv
import gzip
import io
import json
import os
import re
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from ferpipe.core.faces import read_faces
from ferpipe.core.paths import IngestOutputs
from ferpipe.core.schema import EMOTIONS, DataError
from ferpipe.ingest.stage import ingest
from tests.conftest import config_of, fer_csv_text, pixel_text, random_faces

OUTPUTS = IngestOutputs()


def run(source, **options):
    return ingest(config_of("ingest", source=str(source), **options))


def stored_faces():
    table, pixels, _ = read_faces(OUTPUTS.faces)
    return table.to_pandas(), pixels


def assert_no_outputs():
    left = [str(p) for p in vars(OUTPUTS).values() if Path(p).exists()]
    assert left == [], f"outputs left behind after a failure: {left}"
    assert not any(Path(".").rglob(".staging-*"))


# --- accepted forms ---------------------------------------------------------------------------


def test_fer2013_csv_is_ingested_with_its_splits(in_tmp, small_fer):
    labels, usages, faces = small_fer
    Path("fer2013.csv").write_text(fer_csv_text(labels, usages, faces))
    report = run("fer2013.csv")
    assert report["rows"]["by_usage"] == {"Training": 7, "PublicTest": 7, "PrivateTest": 7}
    assert report["rows"]["by_split"] == {"train": 7, "val": 7, "test": 7}
    assert report["classes"]["train"] == dict.fromkeys(EMOTIONS, 1)
    table, pixels = stored_faces()
    assert table["emotion"].tolist() == labels
    assert table["split"].tolist()[:3] == ["train", "val", "test"]
    np.testing.assert_array_equal(pixels, faces)


def test_gzip_csv_and_crlf_and_bom_read_the_same(in_tmp, small_fer):
    labels, usages, faces = small_fer
    text = "\ufeff" + fer_csv_text(labels, usages, faces, newline="\r\n")
    with gzip.open("fer2013.csv.gz", "wt", newline="") as stream:
        stream.write(text)
    run("fer2013.csv.gz")
    table, pixels = stored_faces()
    assert table["usage"].tolist() == usages
    np.testing.assert_array_equal(pixels, faces)


def test_kaggle_tar_archive_is_read_from_its_member(in_tmp, small_fer):
    data = fer_csv_text(*small_fer).encode()
    with tarfile.open("fer2013.tar.gz", "w:gz") as archive:
        member = tarfile.TarInfo("fer2013/fer2013.csv")
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data))
    report = run("fer2013.tar.gz")
    assert report["rows"]["valid"] == 21
    assert report["source"]["form"] == "fer2013.csv"


def test_icml_face_data_columns_with_leading_spaces(in_tmp, small_fer):
    labels, usages, faces = small_fer
    lines = ["emotion, Usage, pixels"] + [
        f"{l},{u},{pixel_text(f)}" for l, u, f in zip(labels, usages, faces, strict=True)
    ]
    Path("icml_face_data.csv").write_text("\n".join(lines) + "\n")
    report = run("icml_face_data.csv")
    assert report["source"]["form"] == "icml_face_data.csv"
    table, pixels = stored_faces()
    assert table["usage"].tolist() == usages
    np.testing.assert_array_equal(pixels, faces)


def test_train_csv_without_usage_gets_a_seeded_stratified_validation_split(in_tmp):
    labels = [label for label in range(7) for _ in range(10)]
    faces = random_faces(70)
    lines = ["emotion,pixels"] + [f"{l},{pixel_text(f)}" for l, f in zip(labels, faces, strict=True)]
    Path("train.csv").write_text("\n".join(lines) + "\n")
    report = run("train.csv", val_fraction=0.2, seed=3)
    assert report["rows"]["by_split"] == {"train": 56, "val": 14, "test": 0}
    assert report["classes"]["val"] == dict.fromkeys(EMOTIONS, 2)
    assert any("no validation split" in note for note in report["notes"])
    first = stored_faces()[0]["split"].tolist()
    run("train.csv", val_fraction=0.2, seed=3)
    assert stored_faces()[0]["split"].tolist() == first


def make_image_folder(root: Path, faces: np.ndarray) -> dict[str, int]:
    expected = {}
    layout = [
        ("train", "angry", "Training_1.jpg"),
        ("train", "happy", "im7.png"),
        ("test", "happy", "PublicTest_5.jpg"),
        ("test", "sad", "PrivateTest_9.png"),
        ("test", "fear", "im2.png"),
    ]
    for (split, emotion, name), face in zip(layout, faces, strict=True):
        folder = root / split / emotion
        folder.mkdir(parents=True, exist_ok=True)
        # JPEG is lossy; quality 100 keeps the test about reading, not about codecs.
        Image.fromarray(face.reshape(48, 48)).save(folder / name, quality=100)
        expected[name] = EMOTIONS.index(emotion)
    return expected


def test_image_folder_release_keeps_labels_and_public_private_splits(in_tmp):
    faces = np.repeat(np.arange(0, 250, 50, dtype=np.uint8)[:, None], 2304, axis=1)  # flat, JPEG-safe
    expected = make_image_folder(Path("images"), faces)
    Path("images/train/.DS_Store").write_text("x")
    report = run("images")
    assert report["source"]["form"] == "image folder"
    assert report["rows"]["by_usage"] == {"Training": 2, "PublicTest": 1, "PrivateTest": 2}
    assert report["rows"]["by_split"] == {"train": 2, "val": 1, "test": 2}
    assert any("non-image file" in note for note in report["notes"])
    table, _ = stored_faces()
    assert sorted(table["emotion"].tolist()) == sorted(expected.values())


def test_image_folder_unreadable_or_wrong_size_images_are_named(in_tmp):
    faces = np.full((5, 2304), 128, np.uint8)
    make_image_folder(Path("images"), faces)
    Path("images/train/angry/broken.jpg").write_bytes(b"not a jpeg")
    Image.new("L", (64, 64)).save("images/train/angry/big.png")
    with pytest.raises(DataError) as failure:
        run("images")
    message = str(failure.value)
    assert "train/angry/broken.jpg: image: not a readable image" in message
    assert "train/angry/big.png: image: image is 64x64, expected 48x48" in message
    assert_no_outputs()


# --- validation rules -------------------------------------------------------------------------


def corrupt_csv(small_fer, edits):
    labels, usages, faces = small_fer
    lines = fer_csv_text(labels, usages, faces).splitlines()
    for line_number, text in edits.items():
        lines[line_number - 1] = text
    Path("fer2013.csv").write_text("\n".join(lines) + "\n")


def test_bad_rows_fail_the_stage_with_file_line_and_field(in_tmp, small_fer):
    good = pixel_text(small_fer[2][0])
    corrupt_csv(
        small_fer,
        {
            3: f"7,{good},Training",
            5: f"x,{good},Training",
            6: f"2,{good},Validation",
            8: f"2,{good} 17,Training",
            9: "2,1 2 3",
        },
    )
    with pytest.raises(DataError) as failure:
        run("fer2013.csv")
    message = str(failure.value)
    assert "5 invalid row(s)" in message
    assert "fer2013.csv: line 3: emotion: '7' is not a label 0..6" in message
    assert "fer2013.csv: line 5: emotion: 'x' is not a label 0..6" in message
    assert "fer2013.csv: line 6: Usage: 'Validation' is not one of Training, PublicTest, PrivateTest" in message
    assert "fer2013.csv: line 8: pixels: 2305 values, expected 2304" in message
    assert "line 9: row: 2 fields, expected 3" in message
    assert "on_bad_rows: skip" in message
    assert_no_outputs()


def test_line_numbers_stay_right_after_a_row_with_missing_fields(in_tmp, small_fer):
    corrupt_csv(small_fer, {3: "2,1 2 3", 10: "9," + pixel_text(small_fer[2][0]) + ",Training"})
    with pytest.raises(DataError) as failure:
        run("fer2013.csv")
    assert "line 3: row: 2 fields" in str(failure.value)
    assert "line 10: emotion: '9'" in str(failure.value)


def test_problems_are_listed_in_line_order_whatever_found_them(in_tmp, small_fer):
    good = pixel_text(small_fer[2][0])
    corrupt_csv(small_fer, {3: f"7,{good},Training", 4: "2,1 2 3", 6: f"x,{good},Training"})
    with pytest.raises(DataError) as failure:
        run("fer2013.csv")
    shown = re.findall(r"line (\d+):", str(failure.value))
    assert shown == ["3", "4", "6"]  # line 4, a malformed line, is found by the reader, before the others


def test_blank_lines_at_the_end_are_ignored_and_counted(in_tmp, small_fer):
    Path("fer2013.csv").write_text(fer_csv_text(*small_fer) + "\n\n")
    report = run("fer2013.csv")
    assert report["rows"]["valid"] == 21 and report["rejected"]["rows"] == 0
    assert report["rows"]["blank_lines_at_end"] == 2
    assert "2 blank line(s) at the end of fer2013.csv ignored" in report["notes"]


def test_a_blank_line_among_the_rows_is_one_problem_named_as_such(in_tmp, small_fer):
    corrupt_csv(small_fer, {5: ""})
    with pytest.raises(DataError) as failure:
        run("fer2013.csv")
    assert str(failure.value).splitlines()[:2] == [
        "fer2013.csv: 1 invalid row(s); the first 1:",
        "  fer2013.csv: line 5: row: blank line (no values)",
    ]
    report = run("fer2013.csv", on_bad_rows="skip")
    assert report["rows"]["valid"] == 20 and report["rejected"]["problems_by_field"] == {"row": 1}


def test_skip_mode_sets_bad_rows_aside_with_reasons_and_counts_them(in_tmp, small_fer):
    good = pixel_text(small_fer[2][0])
    corrupt_csv(small_fer, {4: f"3,{good.replace('1', 'a', 1)},PublicTest", 7: f"-1,{good},Training"})
    report = run("fer2013.csv", on_bad_rows="skip")
    assert report["rows"]["valid"] == 19
    assert report["rejected"]["rows"] == 2
    with open(OUTPUTS.rejected) as stream:
        rejected = list(csv.DictReader(stream))
    assert [(r["location"], r["field"]) for r in rejected] == [("line 4", "pixels"), ("line 7", "emotion")]
    table, _ = stored_faces()
    assert 2 not in table["source_row"].tolist() and 5 not in table["source_row"].tolist()
    assert json.loads(Path(OUTPUTS.report).read_text())["rejected"]["rows"] == 2


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"", "file is empty"),
        (b"emotion,pixels,Usage\n", "has a header but no data rows"),
        (b"label,image,split\n0,1 2,Training\n", "line 1: unrecognised header"),
        (b"pixels\n1 2 3\n", "test.csv has no labels"),
    ],
)
def test_structural_problems_get_their_own_message(in_tmp, content, expected):
    Path("fer2013.csv").write_bytes(content)
    with pytest.raises(DataError, match=expected):
        run("fer2013.csv")
    assert_no_outputs()


def test_truncated_gzip_is_reported_as_such(in_tmp, small_fer):
    whole = gzip.compress(fer_csv_text(*small_fer).encode())
    Path("fer2013.csv.gz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match="fer2013.csv.gz: .*truncated or corrupt"):
        run("fer2013.csv.gz")
    assert_no_outputs()


def test_archive_without_the_csv_is_reported(in_tmp):
    with tarfile.open("fer2013.tar.gz", "w:gz") as archive:
        member = tarfile.TarInfo("fer2013/README.txt")
        archive.addfile(member, io.BytesIO(b""))
    with pytest.raises(DataError, match="archive holds no fer2013.csv.*fer2013/README.txt"):
        run("fer2013.tar.gz")


def test_missing_source_names_the_way_out(in_tmp):
    with pytest.raises(DataError, match="no such file.*ingest.source"):
        run("data/raw/fer2013.csv")


@pytest.mark.parametrize("change", ["rewritten", "replaced"])
def test_a_source_changed_while_it_is_read_fails_and_leaves_nothing(in_tmp, small_fer, monkeypatch, change):
    from ferpipe.ingest import stage

    Path("fer2013.csv").write_text(fer_csv_text(*small_fer))
    run("fer2013.csv")  # outputs of an earlier run must not survive either
    read_source = stage.read_source

    def read_then_change(path):
        raw = read_source(path)
        labels, usages, faces = small_fer
        if change == "rewritten":
            Path(path).write_text(fer_csv_text(labels[::-1], usages, faces))
        else:  # a new file moved over the old one, as a download finishing would
            Path("new.csv").write_text(fer_csv_text(labels, usages, faces[::-1]))
            os.replace("new.csv", path)
        return raw

    monkeypatch.setattr(stage, "read_source", read_then_change)
    with pytest.raises(DataError, match="fer2013.csv: changed while ingest was reading it"):
        run("fer2013.csv")
    assert not any(Path(path).exists() for path in vars(OUTPUTS).values())


def test_a_failed_run_removes_stale_outputs_of_an_earlier_success(in_tmp, small_fer):
    Path("fer2013.csv").write_text(fer_csv_text(*small_fer))
    run("fer2013.csv")
    assert Path(OUTPUTS.faces).exists()
    corrupt_csv(small_fer, {2: "9,1 2,Training"})
    with pytest.raises(DataError):
        run("fer2013.csv")
    assert_no_outputs()


def test_outputs_carry_the_source_hash_and_the_plot(in_tmp, small_fer):
    Path("fer2013.csv").write_text(fer_csv_text(*small_fer))
    report = run("fer2013.csv")
    from ferpipe.core.files import sha256_of

    assert report["source"]["sha256"] == sha256_of("fer2013.csv")
    assert pq.read_metadata(OUTPUTS.faces).num_rows == 21
    assert Image.open(OUTPUTS.class_plot).size[0] > 400
    assert report["data"] == "real"


def bad_line_cases(good: str) -> dict[str, tuple[bytes, str]]:
    """Line 4 of a 22-line file, written as each kind of damage, with the reason it must get."""
    first, second = (good.split() + ["0", "0"])[:2]
    return {
        "stray quote": (f'3,"{good},Training'.encode(), f"pixels: value 1 is {chr(34) + first!r}: '\"' is not a digit"),
        "tab between values": (
            f"3,{good.replace(' ', chr(9), 1)},Training".encode(),
            f"pixels: value 1 is {first + chr(9) + second!r}: a tab is not a digit",
        ),
        "Windows-1252 byte in Usage": (
            f"3,{good},Tr\x96ining".encode("latin-1"),
            "Usage: 'Tr\ufffdining' is not one of",
        ),
        "Windows-1252 byte in pixels": (
            f"3,{chr(0x96)}{good},Training".encode("latin-1"),
            f"pixels: value 1 is {chr(0x96) + first!r}: byte 0x96 is not a digit",
        ),
        "line longer than a read block": (
            ("3," + " ".join(["255"] * 700_000) + ",Training").encode(),
            "pixels: 700000 values, expected 2304",
        ),
    }


@pytest.mark.parametrize("case", list(bad_line_cases("")))
def test_every_line_is_accounted_for_and_a_damaged_one_is_a_rejected_row(in_tmp, small_fer, case):
    labels, usages, faces = small_fer
    lines = fer_csv_text(labels, usages, faces).encode().splitlines()
    damaged, reason = bad_line_cases(pixel_text(faces[2]))[case]
    lines[3] = damaged
    Path("fer2013.csv").write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(DataError, match=rf"fer2013.csv: line 4: {re.escape(reason)}"):
        run("fer2013.csv")
    report = run("fer2013.csv", on_bad_rows="skip")
    assert report["rows"]["valid"] + report["rejected"]["rows"] == len(lines) - 1 == 21
    with open(OUTPUTS.rejected, newline="") as stream:
        (rejected,) = list(csv.DictReader(stream))
    assert rejected["location"] == "line 4" and reason in f"{rejected['field']}: {rejected['reason']}"


def test_kaggle_train_csv_with_quoted_pixels_reads_like_the_unquoted_form(in_tmp):
    labels, faces = [label for label in range(7) for _ in range(10)], random_faces(70)
    Path("train.csv").write_text(
        "emotion,pixels\n" + "".join(f'{l},"{pixel_text(f)}"\n' for l, f in zip(labels, faces, strict=True))
    )
    report = run("train.csv", val_fraction=0.2)
    assert report["rows"]["valid"] == 70 and report["rejected"]["rows"] == 0
    _, pixels = stored_faces()
    assert sorted(map(bytes, pixels)) == sorted(map(bytes, faces))


def test_skip_mode_with_every_row_rejected_says_no_valid_row_is_left(in_tmp, small_fer):
    corrupt_csv(small_fer, {line: "9,1 2,Training" for line in range(2, 23)})
    with pytest.raises(DataError, match=r"fer2013.csv: no valid row: all 21 rows were rejected \(first: line 2: "):
        run("fer2013.csv", on_bad_rows="skip")
    assert not any(Path(path).exists() for path in vars(OUTPUTS).values())


def test_a_source_that_is_not_a_regular_file_gets_its_own_message_and_never_hangs(in_tmp):
    os.mkfifo("pipe.csv")
    with pytest.raises(DataError, match=r"pipe.csv: a FIFO \(named pipe\), not a regular file or folder"):
        run("pipe.csv")
    os.symlink("loop_b.csv", "loop_a.csv")
    os.symlink("loop_a.csv", "loop_b.csv")
    with pytest.raises(DataError, match="loop_a.csv: a symbolic link that leads nowhere"):
        run("loop_a.csv")


def test_the_manuals_check_flags_a_source_dvc_would_wait_on_for_ever(in_tmp):
    # DVC hashes ingest.source before the stage (and its own refusal) can run: docs/reliability.md gives
    # the one-line check to run first.
    from tests.conftest import REPO_ROOT

    check = next(
        line.strip()
        for line in (REPO_ROOT / "docs/reliability.md").read_text().splitlines()
        if line.strip().startswith("SRC=data/raw/fer2013.csv;")
    )
    os.mkfifo("pipe.csv")
    Path("faces.csv").write_text("emotion,pixels,Usage\n")
    Path("folder").mkdir()
    os.symlink("nowhere.csv", "dangling.csv")
    for source, flagged in (("pipe.csv", True), ("dangling.csv", True), ("faces.csv", False), ("folder", False)):
        said = subprocess.run(
            ["bash", "-c", check.replace("data/raw/fer2013.csv", source, 1)], capture_output=True, text=True, timeout=10
        ).stdout
        assert ("not a regular file or folder" in said) == flagged, source


# --- the data/raw folder, as a new user fills it ---------------------------------------------------


@pytest.mark.parametrize("name", ["fer2013.csv", "fer2013.csv.gz", "fer2013.tar.gz", "icml_face_data.csv", "train.csv"])
def test_a_folder_holding_one_fer2013_form_reads_that_file(in_tmp, small_fer, name):
    raw = Path("data/raw")
    raw.mkdir(parents=True)
    (raw / "README.md").write_text("what belongs here")
    (raw / "fer2013new.csv").write_text("Usage,Image name,neutral\n")  # FER+'s votes lie beside it
    text = fer_csv_text(*small_fer)
    if name == "icml_face_data.csv":
        text = text.replace("emotion,pixels,Usage", "emotion, Usage, pixels", 1)
        text = "\n".join(
            ",".join([row.split(",")[0], row.split(",")[2], row.split(",")[1]]) if i else row
            for i, row in enumerate(text.splitlines())
        )
    elif name == "train.csv":
        text = "\n".join(row.rpartition(",")[0] for row in text.splitlines())  # no Usage column
    if name.endswith(".tar.gz"):
        with tarfile.open(raw / name, "w:gz") as archive:
            member = tarfile.TarInfo("fer2013/fer2013.csv")
            member.size = len(text.encode())
            archive.addfile(member, io.BytesIO(text.encode()))
    elif name.endswith(".gz"):
        with gzip.open(raw / name, "wt") as stream:
            stream.write(text)
    else:
        (raw / name).write_text(text)
    report = run("data/raw", val_fraction=0.3)
    assert report["source"]["path"] == str(raw / name)
    assert sum(report["rows"]["by_split"].values()) == 21


def test_a_folder_with_no_form_or_several_says_which_source_to_name(in_tmp, small_fer):
    raw = Path("data/raw")
    raw.mkdir(parents=True)
    (raw / "README.md").write_text("what belongs here")
    with pytest.raises(DataError, match=r"^data/raw: holds no FER2013 file \(fer2013.csv, .* -S ingest.source=PATH"):
        run("data/raw")
    for name in ("fer2013.csv", "train.csv"):
        (raw / name).write_text(fer_csv_text(*small_fer))
    with pytest.raises(
        DataError, match=r"holds 2 FER2013 files \(fer2013.csv, train.csv\).*-S ingest.source=data/raw/"
    ):
        run("data/raw")
    assert_no_outputs()


def test_training_rows_are_required_and_too_few_to_carve_val_is_said_plainly(in_tmp, small_fer):
    labels, usages, faces = small_fer
    held_out = [u if u != "Training" else "PrivateTest" for u in usages]
    Path("no_training.csv").write_text(fer_csv_text(labels, held_out, faces))
    with pytest.raises(DataError, match="no Training row among the 21 valid row"):
        run("no_training.csv")
    Path("only_training.csv").write_text(fer_csv_text(labels[:7], ["Training"] * 7, faces[:7]))
    with pytest.raises(DataError, match=r"no PublicTest rows, and its 7 Training rows are too few") as refused:
        run("only_training.csv")
    assert "test_size" not in str(refused.value)
    assert_no_outputs()
