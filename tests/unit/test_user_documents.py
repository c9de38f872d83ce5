"""The documents a user reads speak of the project, never of its tracker or in private shorthand."""

import re

import pytest

from tests.conftest import REPO_ROOT

TRACKER = re.compile(r"\b(?:issues?|tickets?|PR)\s*#?\d+", re.IGNORECASE)
SHORTHAND = ("the seed project",)  # said once as "the project ferpipe grew from"


def documents():
    return sorted(
        [
            *(REPO_ROOT / name for name in ("README.md", "CONTRIBUTING.md", "BENCHMARKS.md")),
            *(REPO_ROOT / "docs").rglob("*.md"),
            *(REPO_ROOT / "src/ferpipe/packaged").glob("*/model_card.md"),
        ]
    )


def unfollowable(text: str) -> list[str]:
    return [match.group() for match in TRACKER.finditer(text)] + [
        phrase for phrase in SHORTHAND if phrase in text.lower()
    ]


@pytest.mark.parametrize("path", documents(), ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_a_document_names_nothing_a_reader_cannot_follow(path):
    assert not unfollowable(path.read_text()), path


def test_the_check_catches_what_it_is_for():
    assert unfollowable("## Issue 27: the search, beside the Seed project's metric") == [
        "Issue 27",
        "the seed project",
    ]
    assert not unfollowable("27 issues of the seed's recipe; 1,200 faces")
