import json
from pathlib import Path

import numpy as np
import pytest

from ferpipe.convert.stage import convert
from ferpipe.core.arrays import load_split
from ferpipe.core.files import sha256_of
from ferpipe.core.schema import DataError
from ferpipe.ingest.stage import ingest
from tests.conftest import config_of, fer_csv_text


@pytest.fixture
def arrays(in_tmp, small_fer):
    labels, usages, faces = small_fer
    faces = faces.copy()
    faces[1] = faces[0]  # a PublicTest face that also appears in Training
    faces[5] = faces[3]  # a PrivateTest face that also appears in Training
    Path("fer2013.csv").write_text(fer_csv_text(labels, usages, faces))
    ingest(config_of("ingest", source="fer2013.csv"))
    manifest = convert()
    return Path("data/arrays"), manifest, (labels, usages, faces)


def test_each_usage_becomes_its_split_as_uint8_images(arrays):
    folder, manifest, (labels, usages, faces) = arrays
    for split, usage in (("train", "Training"), ("val", "PublicTest"), ("test", "PrivateTest")):
        x, y = load_split(folder, split)
        rows = [i for i, u in enumerate(usages) if u == usage]
        assert x.dtype == np.uint8 and x.shape == (len(rows), 48, 48, 1)
        np.testing.assert_array_equal(x.reshape(len(rows), -1), faces[rows])
        assert y.tolist() == [labels[i] for i in rows]
        assert manifest["splits"][split]["count"] == len(rows)


def test_manifest_hashes_match_the_files_and_the_source(arrays):
    folder, manifest, _ = arrays
    for name, digest in manifest["files"].items():
        assert sha256_of(folder / name) == digest
    assert manifest["source_sha256"] == sha256_of("fer2013.csv")
    assert manifest["label_names"][3] == "happy"
    assert json.loads((folder / "manifest.json").read_text()) == manifest


def test_rows_whose_image_is_in_train_are_marked(arrays):
    folder, manifest, _ = arrays
    assert np.load(folder / "val_seen_in_train.npy").tolist() == [True] + [False] * 6
    assert np.load(folder / "test_seen_in_train.npy").tolist() == [False, True] + [False] * 5
    assert manifest["splits"]["test"]["seen_in_train"] == 1


def test_a_staging_folder_left_by_a_killed_run_is_reclaimed_and_a_running_ones_kept(in_tmp):
    import os

    from ferpipe.core.files import STAGING_PREFIX, atomic_outputs

    abandoned = Path(f"{STAGING_PREFIX}999999999-left")  # no process has this id
    running = Path(f"{STAGING_PREFIX}{os.getppid()}-busy")  # a live process: another stage writing now
    for folder in (abandoned, running):
        (folder / "0").mkdir(parents=True)
    with atomic_outputs("out.txt") as staged:
        staged("out.txt").write_text("done")
    assert Path("out.txt").read_text() == "done"
    assert not abandoned.exists() and running.exists()
    assert [p.name for p in Path().glob(f"{STAGING_PREFIX}*")] == [running.name]  # its own staging is gone too


def test_damaged_faces_are_refused_by_their_page_checksums_and_nothing_is_converted(arrays):
    faces_file = Path("data/validated/faces.parquet")
    damaged = bytearray(faces_file.read_bytes())
    middle = len(damaged) // 2  # inside the pixel pages, most of the file
    damaged[middle : middle + 2000] = np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    faces_file.write_bytes(bytes(damaged))
    with pytest.raises(DataError, match=r"^data/validated/faces.parquet: cannot be read.*CRC checksum"):
        convert()
    assert not Path("data/arrays").exists()
