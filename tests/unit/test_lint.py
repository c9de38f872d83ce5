"""`make lint`: the project passes its own lint checks, and each kind of check does fail a file that
breaks it (so a check that silently stopped running would show here)."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

RUFF = Path(sys.executable).parent / "ruff"
MYPY = Path(sys.executable).parent / "mypy"
SEEDED = {  # a rule of each family pyproject.toml selects, and a file that breaks it
    "F401": "import os\n",  # pyflakes: an unused import
    "I001": "import sys\nimport os\n\nprint(os, sys)\n",  # import order
    "UP035": "from typing import List\n\n\ndef f(x: List[int]) -> List[int]:\n    return x\n",  # pyupgrade
    "B006": "def f(x=[]):\n    return x\n",  # bugbear: a mutable default
    "YTT101": "import sys\n\nprint(sys.version[:3] == '3.1')\n",  # a Python-version check done wrong
}


def lint(*arguments: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(RUFF), "check", "--config", str(REPO_ROOT / "pyproject.toml"), *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_project_passes_its_lint_checks():
    done = lint("src", "tests", "bench")
    assert done.returncode == 0, done.stdout[-3000:]


def test_the_project_is_formatted_and_an_unformatted_file_fails(tmp_path):
    formatted = [str(RUFF), "format", "--check", "--config", str(REPO_ROOT / "pyproject.toml")]
    done = subprocess.run([*formatted, "src", "tests", "bench"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]
    (tmp_path / "seeded.py").write_text("x = {'a':1}\n")
    assert subprocess.run([*formatted, "seeded.py"], cwd=tmp_path, capture_output=True).returncode == 1


@pytest.mark.parametrize("rule", list(SEEDED))
def test_a_seeded_violation_of_each_family_fails(tmp_path, rule):
    (tmp_path / "seeded.py").write_text(SEEDED[rule])
    done = lint("--select", rule, "seeded.py", cwd=tmp_path)
    assert done.returncode == 1 and rule in done.stdout, done.stdout
    assert lint("seeded.py", cwd=tmp_path).returncode == 1  # with the project's own selection too


def type_check(*arguments: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(MYPY), "--config-file", str(REPO_ROOT / "pyproject.toml"), "--no-incremental", *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow  # mypy over the whole project: half a minute
def test_the_project_passes_its_type_checks():
    done = type_check()
    assert done.returncode == 0, done.stdout[-3000:]


@pytest.mark.parametrize("package, strict", [("core", True), ("train", True), ("tools", False)])
def test_a_seeded_type_error_fails_everywhere_and_a_missing_annotation_where_strict(tmp_path, package, strict):
    # A package laid out as the project's, so that pyproject.toml's per-module strictness applies.
    folder = tmp_path / "ferpipe" / package
    folder.mkdir(parents=True)
    for init in (tmp_path / "ferpipe" / "__init__.py", folder / "__init__.py"):
        init.write_text("")
    (folder / "wrong.py").write_text('def answer() -> int:\n    return "forty-two"\n')
    done = type_check("ferpipe/" + package + "/wrong.py", cwd=tmp_path)
    assert done.returncode == 1 and "[return-value]" in done.stdout, done.stdout
    (folder / "wrong.py").write_text("def double(x):\n    return 2 * x\n")
    done = type_check("ferpipe/" + package + "/wrong.py", cwd=tmp_path)
    assert (done.returncode == 1 and "[no-untyped-def]" in done.stdout) == strict, done.stdout


MODULE_LINES = 250
SAYS_WHY = "Longer than most modules"


def long_modules_without_a_reason(root: Path) -> list[str]:
    """Modules over MODULE_LINES lines whose docstring does not say why they are."""
    import ast

    found = []
    for module in sorted(root.rglob("*.py")):
        text = module.read_text()
        if text.count("\n") > MODULE_LINES and SAYS_WHY not in (ast.get_docstring(ast.parse(text)) or ""):
            found.append(f"{module.relative_to(root)}: {text.count(chr(10))} lines")
    return found


def test_every_module_is_short_or_its_docstring_says_why(tmp_path):
    assert long_modules_without_a_reason(REPO_ROOT / "src") == []
    (tmp_path / "long.py").write_text('"""A module."""\n' + "x = 1\n" * MODULE_LINES)
    (tmp_path / "explained.py").write_text(f'"""A module.\n\n{SAYS_WHY}: a reason."""\n' + "x = 1\n" * MODULE_LINES)
    assert long_modules_without_a_reason(tmp_path) == [f"long.py: {MODULE_LINES + 1} lines"]
