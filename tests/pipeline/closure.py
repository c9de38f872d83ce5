"""The modules a `python -m ferpipe.<stage>` command runs, found by reading the code.

Every `import` of a ferpipe module counts, at the top of a module or inside a function (a
lazy import runs too), and importing `a.b.c` runs the package files `a/__init__.py` and
`a/b/__init__.py` as well. Imports under `if TYPE_CHECKING:` never run and do not count, nor
do those of a module's `__getattr__` (PEP 562: `ferpipe.Recognizer` loads the API when a program
asks for it, which no stage does).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "ferpipe"


def module_file(src: Path, module: str) -> Path | None:
    base = src.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(file: Path, module: str) -> set[str]:
    tree = ast.parse(file.read_text())
    skipped = {
        id(node)
        for guard in ast.walk(tree)
        if isinstance(guard, ast.If) and ast.unparse(guard.test).endswith("TYPE_CHECKING")
        for body in guard.body
        for node in ast.walk(body)
    } | {
        id(node)
        for function in tree.body
        if isinstance(function, ast.FunctionDef) and function.name == "__getattr__"
        for node in ast.walk(function)
    }
    package = module if file.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return {name for name in found if name == PACKAGE or name.startswith(PACKAGE + ".")}


def closure(src: Path, entry: str) -> set[Path]:
    """Files of every ferpipe module that running module `entry` imports, directly or not."""
    files: set[Path] = set()
    pending = [entry]
    seen: set[str] = set()
    while pending:
        module = pending.pop()
        parts = module.split(".")
        for depth in range(1, len(parts) + 1):  # the packages above it run first
            name = ".".join(parts[:depth])
            if name in seen:
                continue
            seen.add(name)
            file = module_file(src, name)
            if file is None:
                continue  # `from pkg import CONSTANT`: a name, not a module
            files.add(file)
            pending.extend(imported_modules(file, name))
    return files
