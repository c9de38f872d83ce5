"""File helpers shared by every stage: atomic stage outputs, hashing, change detection, JSON."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ferpipe.core.schema import DataError

_CHUNK = 1 << 20


@contextmanager
def atomic_outputs(*outputs: Path | str) -> Iterator[Callable[[Path | str], Path]]:
    """Write a stage's outputs so that they appear together, or not at all.

    Existing targets are removed first, so a failed run never leaves stale outputs behind
    (DVC does the same before it runs a stage). The caller writes to `staged(target)`; when
    the block succeeds every staged file or folder is moved into place, and when it raises,
    the staging folder is deleted.
    """
    targets = [Path(t) for t in outputs]
    clear(*targets)
    anchor = Path(os.path.commonpath([t.resolve().parent for t in targets]))
    anchor.mkdir(parents=True, exist_ok=True)
    remove_abandoned_staging(anchor)
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=anchor))
    slots = {target: staging / str(i) / target.name for i, target in enumerate(targets)}
    for slot in slots.values():
        slot.parent.mkdir()

    def staged(target: Path | str) -> Path:
        return slots[Path(target)]

    try:
        yield staged
        missing = [str(t) for t, slot in slots.items() if not slot.exists()]
        if missing:
            raise RuntimeError(f"stage did not write its outputs: {missing}")
        for target, slot in slots.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(slot, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


STAGING_PREFIX = ".staging-"  # ignored by git and DVC (.gitignore, .dvcignore)


def remove_abandoned_staging(folder: Path) -> None:
    """Staging folders of a process that no longer runs (killed mid-write, `kill -9` included)."""
    for staging in folder.glob(f"{STAGING_PREFIX}*"):
        pid = staging.name.removeprefix(STAGING_PREFIX).partition("-")[0]
        if not pid.isdigit() or not _running(int(pid)):
            shutil.rmtree(staging, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # no signal sent: only whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's
        pass
    return True


def clear(*paths: Path | str) -> None:
    """Remove a stage's earlier outputs before it runs, so a failure never leaves them looking current."""
    for path in paths:
        remove(Path(path))


@contextmanager
def reading(path: Path | str, made_by: str) -> Iterator[None]:
    """A stage's input that is missing or cannot be read: one line naming the file."""
    try:
        yield
    except FileNotFoundError:
        raise DataError(f"{path}: not found; run the {made_by} stage first (dvc repro)") from None
    except (OSError, ValueError, KeyError, EOFError) as error:
        text = " ".join(str(error).split())[:200]
        raise DataError(f"{path}: cannot be read, or is not what the {made_by} stage writes ({text})") from None


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def sha256_of(path: Path | str) -> str:
    """sha256 of a file, or of a folder's relative file names and contents in sorted order."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode() + b"\0")
        with open(file, "rb") as stream:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def stat_signature(*paths: Path | str) -> list:
    """Size, modification time and inode of each file (every file of a folder): it changes when a
    file is rewritten or replaced. None for a path that does not exist."""
    signature: list = []
    for path in map(Path, paths):
        if not path.exists():
            signature.append((str(path), None))
            continue
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        signature += [(str(f), s.st_size, s.st_mtime_ns, s.st_ino) for f in files for s in [f.stat()]]
    return signature


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
