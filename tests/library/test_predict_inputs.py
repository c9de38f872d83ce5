"""`ferpipe predict` reads its inputs as a stream of batches: every CSV row accounted for, with
exact line numbers across read blocks, whatever the file's size."""

import gzip

import numpy as np
import pytest
from PIL import Image

from ferpipe.tools.inputs import Report, count_inputs, face_batches
from tests.conftest import fer_csv_text, random_faces

ROWS = 1200  # about 10 MB of pixel text: many of the reader's 1 MB blocks


def read_all(paths, batch_size=256):
    report = Report()
    batches = list(face_batches(paths, batch_size, report))
    return batches, report


@pytest.fixture
def big_csv(tmp_path):
    faces = random_faces(ROWS, seed=11)
    lines = fer_csv_text([3] * ROWS, ["PrivateTest"] * ROWS, faces).splitlines()
    lines[1 + 2] = "3,1 2 3,PrivateTest"  # row 2: too few pixels
    lines[1 + 500] = "3,extra,field," + lines[1 + 500]  # row 500: a line with 5 fields
    lines[1 + 900] = "3,300" + lines[1 + 900][lines[1 + 900].index(" ") :]  # row 900: a first value over 255
    path = tmp_path / "faces.csv.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return path, faces


def test_every_csv_row_is_predicted_or_named_with_its_line_across_read_blocks(big_csv):
    path, faces = big_csv
    batches, report = read_all([path])
    indexes = [face.index for batch in batches for face in batch.faces]
    assert sorted(report.failures) == sorted(
        [
            (f"{path}:line 4", "bad row: pixels: 3 values, expected 2304 (48x48)"),
            (f"{path}:line 502", "bad row: 6 fields, expected 3"),
            (f"{path}:line 902", "bad row: pixels: value 1 is 300, outside 0..255"),
        ]
    )
    # Row indexes count the rows the reader kept: the 5-field line is not one of them.
    assert len(indexes) + len(report.failures) == ROWS
    assert indexes == sorted(set(indexes))
    good = np.delete(faces, [2, 500, 900], axis=0)
    assert indexes == [i for i in range(ROWS - 1) if i not in (2, 899)]  # row 900 of the file is kept row 899
    np.testing.assert_array_equal(np.concatenate([b.pixels for b in batches]).reshape(-1, 2304), good)
    assert sum(batch.inputs for batch in batches) == ROWS - 1 == count_inputs([path]) - 1


def test_batches_hold_the_batch_size_and_mix_images_with_csv_rows(tmp_path, big_csv):
    path, _ = big_csv
    Image.fromarray(random_faces(1, seed=2).reshape(48, 48)).save(tmp_path / "crop.png")
    (tmp_path / "broken.png").write_bytes(b"nope")
    batches, report = read_all([tmp_path / "crop.png", path, tmp_path / "broken.png"], batch_size=100)
    assert [len(b.faces) for b in batches[:-1]] == [100] * (len(batches) - 1) and 0 < len(batches[-1].faces) <= 100
    assert all(b.pixels.shape == (len(b.faces), 48, 48, 1) and b.pixels.dtype == np.uint8 for b in batches)
    assert batches[0].faces[0].source == str(tmp_path / "crop.png")
    assert report.failures[-1] == (str(tmp_path / "broken.png"), "not an image: unrecognised format")


def test_a_line_longer_than_a_read_block_is_one_bad_row_and_no_row_is_read_twice(tmp_path):
    faces = random_faces(600, seed=5)
    lines = fer_csv_text([0] * 600, ["Training"] * 600, faces).splitlines()
    lines[1 + 400] = "0," + " ".join(["1"] * 1_500_000) + ",Training"  # 3 MB: wider than a block
    path = tmp_path / "long.csv"
    path.write_text("\n".join(lines) + "\n")
    batches, report = read_all([path])
    indexes = [face.index for batch in batches for face in batch.faces]
    assert indexes == [i for i in range(600) if i != 400]
    assert report.failures == [(f"{path}:line 402", report.failures[0][1])]
    assert report.failures[0][1].startswith("bad row: pixels")


def test_a_truncated_csv_keeps_what_was_read_and_says_the_rest_is_unreadable(tmp_path, big_csv):
    path, _ = big_csv
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    batches, report = read_all([cut])
    assert 0 < sum(len(b.faces) for b in batches) < ROWS
    assert report.failures[-1][0] == str(cut) and report.failures[-1][1].startswith("unreadable: ")


def test_blank_lines_are_named_as_such_and_those_ending_the_file_ignored(tmp_path):
    faces = random_faces(ROWS, seed=12)
    lines = fer_csv_text([3] * ROWS, ["PrivateTest"] * ROWS, faces).splitlines()
    lines[1 + 600] = ""  # a blank line among the rows, deep in the stream
    path = tmp_path / "faces.csv"
    path.write_text("\n".join(lines) + "\n\n\n")  # and two blank lines at the end
    batches, report = read_all([path])
    assert report.failures == [(f"{path}:line 602", "bad row: blank line (no values)")]
    assert report.notes == [(str(path), "2 blank line(s) at the end ignored")]
    assert sum(len(batch.faces) for batch in batches) == ROWS - 1
