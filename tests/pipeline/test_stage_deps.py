"""dvc.yaml tells the truth about each stage: it depends on exactly the code it runs, and it
declares exactly the outputs the code writes (ferpipe.core.paths)."""

import dataclasses
from pathlib import Path

import pytest
import yaml

from ferpipe.core.paths import STAGE_OUTPUTS
from tests.conftest import REPO_ROOT, TINY_ROWS, copy_repository, sh
from tests.pipeline.closure import closure

SRC = REPO_ROOT / "src"
STAGES = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]


def declared(entries) -> list[str]:
    """Paths of a dvc.yaml list whose items are a path or {path: options}."""
    return [next(iter(entry)) if isinstance(entry, dict) else entry for entry in entries or []]


def code_covered(deps: list[str]) -> set[Path]:
    covered = set()
    for dep in deps:
        path = REPO_ROOT / dep
        if dep.startswith("src/"):
            covered.update(path.rglob("*.py") if path.is_dir() else [path])
    return {p for p in covered if "__pycache__" not in p.parts}


@pytest.mark.parametrize("name", list(STAGES))
def test_stage_depends_on_exactly_the_modules_it_runs(name):
    command = STAGES[name]["cmd"].split()
    assert command[:3] == ["PYTHONPATH=src", "python", "-m"], (
        f"stage {name}: run it as `PYTHONPATH=src python -m ferpipe.<stage>`, the code of the copy DVC hashes"
    )
    runs = closure(SRC, f"{command[3]}.__main__")
    covered = code_covered(declared(STAGES[name]["deps"]))
    relative = lambda files: sorted(str(f.relative_to(REPO_ROOT)) for f in files)  # noqa: E731
    assert relative(runs - covered) == [], f"stage {name} runs these modules but does not depend on them"
    assert relative(covered - runs) == [], f"stage {name} depends on these modules but never runs them"


@pytest.mark.parametrize("name", list(STAGES))
def test_stage_declares_exactly_the_outputs_its_code_writes(name):
    stage = STAGES[name]
    in_dvc_yaml = {*declared(stage.get("outs")), *declared(stage.get("metrics")), *declared(stage.get("plots"))}
    in_code = {str(field.default) for field in dataclasses.fields(STAGE_OUTPUTS[name])}
    assert in_dvc_yaml == in_code


def test_closure_follows_lazy_imports_and_packages_but_not_type_checking(tmp_path):
    package = tmp_path / "ferpipe"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub/__init__.py").write_text("")
    (package / "sub/entry.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ferpipe import hinted\n"
        "def run():\n    from ferpipe.sub import lazy\n"
    )
    for name in ("sub/lazy.py", "hinted.py", "unused.py"):
        (package / name).write_text("")
    found = {str(f.relative_to(tmp_path)) for f in closure(tmp_path, "ferpipe.sub.entry")}
    assert found == {"ferpipe/__init__.py", "ferpipe/sub/__init__.py", "ferpipe/sub/entry.py", "ferpipe/sub/lazy.py"}


@pytest.mark.slow
@pytest.mark.pipeline
def test_a_copy_of_the_repository_runs_its_own_code_not_the_installed_package(tmp_path):
    # As a queued or --temp experiment does (a copy in .dvc/tmp/exps), or a second clone: DVC
    # records the copy's code in dvc.lock, so the copy's code is what must run. Every stage
    # starts the same way (the test above), so one stage shows it for all.
    copy_repository(tmp_path, {"synthetic": {"rows": TINY_ROWS}})
    package = tmp_path / "src/ferpipe/__init__.py"
    package.write_text(package.read_text() + "\nimport pathlib\npathlib.Path('ran.txt').write_text(__file__)\n")
    sh("dvc", "repro", "synthesize", cwd=tmp_path)
    assert Path((tmp_path / "ran.txt").read_text()).resolve() == package.resolve()
