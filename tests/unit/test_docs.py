"""`make docs`: the manual builds with MkDocs in strict mode, and strict mode does fail a broken
link and a page left out of the navigation."""

import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow  # MkDocs builds the site in a process of its own


def build(root) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(root / "site")],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_manual_builds_with_no_warning(tmp_path):
    shutil.copytree(REPO_ROOT / "docs", tmp_path / "docs")
    shutil.copy(REPO_ROOT / "mkdocs.yml", tmp_path)
    done = build(tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "site/reliability/index.html").is_file()


@pytest.mark.parametrize("damage", ["broken link", "page missing from the navigation"])
def test_a_broken_link_or_an_unlisted_page_fails_the_build(tmp_path, damage):
    shutil.copytree(REPO_ROOT / "docs", tmp_path / "docs")
    shutil.copy(REPO_ROOT / "mkdocs.yml", tmp_path)
    if damage == "broken link":
        page = tmp_path / "docs/training.md"
        page.write_text(page.read_text() + "\nSee [the old page](no-such-page.md).\n")
    else:
        (tmp_path / "docs/orphan.md").write_text("# A page nobody can reach\n")
    done = build(tmp_path)
    assert done.returncode != 0 and ("no-such-page.md" in done.stderr or "orphan.md" in done.stderr), done.stderr[
        -2000:
    ]
