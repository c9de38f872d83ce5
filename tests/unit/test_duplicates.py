import numpy as np

from ferpipe.core import duplicates
from ferpipe.core.duplicates import image_groups, seen_in
from tests.conftest import random_faces


def test_identical_images_share_a_group_and_others_do_not():
    faces = random_faces(6)
    faces[4] = faces[1]
    faces[5] = faces[1]
    groups = image_groups(faces)
    assert groups[1] == groups[4] == groups[5]
    assert len(set(groups[[0, 1, 2, 3]])) == 4


def test_hash_collisions_fall_back_to_exact_comparison(monkeypatch):
    # All-zero keys make every image collide; grouping must still be exact.
    monkeypatch.setattr(duplicates, "_HASH_KEYS", np.zeros_like(duplicates._HASH_KEYS))
    faces = random_faces(4)
    faces[3] = faces[0]
    groups = image_groups(faces)
    assert groups[0] == groups[3]
    assert len(set(groups[:3])) == 3


def test_seen_in_marks_rows_whose_image_occurs_in_the_reference():
    groups = np.array([0, 1, 2, 0, 3])
    assert seen_in(groups, np.array([3, 4]), np.array([0, 1, 2])).tolist() == [True, False]
