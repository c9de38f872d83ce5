import numpy as np
import pyarrow as pa

from ferpipe.ingest.pixels import ROWS_PER_BLOCK, parse_pixel_strings
from tests.conftest import pixel_text, random_faces


def test_valid_rows_parse_exactly():
    faces = random_faces(5)
    images, problems = parse_pixel_strings(pa.array([pixel_text(f) for f in faces]))
    assert problems == {}
    assert images.dtype == np.uint8
    np.testing.assert_array_equal(images, faces)


def test_rows_parse_independently_across_block_boundaries():
    # Rows sit back to back in Arrow's buffer; a row ending in a digit must not merge into the next.
    faces = random_faces(ROWS_PER_BLOCK + 3, seed=1)
    faces[:, 0], faces[:, -1] = 7, 9
    images, problems = parse_pixel_strings(pa.chunked_array([[pixel_text(f) for f in faces]]))
    assert problems == {}
    np.testing.assert_array_equal(images, faces)


def test_extremes_and_surrounding_spaces_are_accepted():
    face = np.zeros(2304, np.uint8)
    face[::2] = 255
    images, problems = parse_pixel_strings(pa.array(["  " + pixel_text(face) + " "]))
    assert problems == {}
    np.testing.assert_array_equal(images[0], face)


def test_each_invalid_row_is_reported_with_its_reason_and_valid_rows_kept():
    good = random_faces(3, seed=2)
    tokens = pixel_text(good[0]).split()
    rows = [
        pixel_text(good[0]),
        " ".join(tokens[:-1]),  # 2303 values
        " ".join(tokens + ["1"]),  # 2305 values
        " ".join(["256"] + tokens[1:]),  # out of range
        " ".join(tokens[:5] + ["12.5"] + tokens[6:]),  # not an integer
        " ".join(tokens[:5] + ["-3"] + tokens[6:]),  # negative
        None,
        "",
        pixel_text(good[1]),
    ]
    images, problems = parse_pixel_strings(pa.array(rows, pa.string()))
    assert sorted(problems) == [1, 2, 3, 4, 5, 6, 7]
    assert "2303 values, expected 2304" in problems[1]
    assert "2305 values" in problems[2]
    assert "value 1 is 256, outside 0..255" in problems[3]
    assert "value 6 is '12.5'" in problems[4]
    assert "value 6 is '-3'" in problems[5]
    assert problems[6] == problems[7] == "pixels: empty"
    np.testing.assert_array_equal(images, good[:2])
