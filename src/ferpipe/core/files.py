"""File helpers shared by every stage and tool: outputs written whole (cleared first for a stage,
replaced on success for what a user names or the package carries), hashing, change detection, JSON."""

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
def atomic_outputs(*outputs: Path | str, keep_old: bool = False) -> Iterator[Callable[[Path | str], Path]]:
    """Write outputs so that they appear together and whole, or not at all.

    The caller writes to `staged(target)` (a path in a staging folder beside the targets); when the
    block succeeds every staged file or folder is moved into place, and when it raises the staging
    folder is deleted. Two modes, for two kinds of output:

    - a stage's outputs (`keep_old=False`): existing targets are removed first, so a failed run
      never leaves stale outputs behind (DVC does the same before it runs a stage);
    - what a user names or the package carries (`keep_old=True`): the old targets stay until the
      new ones are whole, then each is swapped in by renames; a failure or a kill leaves the old
      ones in place (a process killed between two renames leaves its old file in the staging
      folder, and the next write there puts it back).
    """
    targets = [Path(t) for t in outputs]
    if not keep_old:
        clear(*targets)
    anchor = Path(os.path.commonpath([t.resolve().parent for t in targets]))
    anchor.mkdir(parents=True, exist_ok=True)
    remove_abandoned_staging(anchor)
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=anchor))
    slots = {target: staging / str(i) / target.name for i, target in enumerate(targets)}
    for slot in slots.values():
        slot.parent.mkdir()
    (staging / TARGETS).write_text(json.dumps({str(i): str(t.resolve()) for i, t in enumerate(targets)}))

    def staged(target: Path | str) -> Path:
        return slots[Path(target)]

    try:
        yield staged
        missing = [str(t) for t, slot in slots.items() if not slot.exists()]
        if missing:
            raise RuntimeError(f"stage did not write its outputs: {missing}")
        swap_in(slots, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


STAGING_PREFIX = ".staging-"  # ignored by git and DVC (.gitignore, .dvcignore)
TARGETS = "targets.json"  # in a staging folder: slot number -> the target it replaces
OLD = "old"  # in a staging folder: the targets it replaced, until the new ones are all in place


def swap_in(slots: dict[Path, Path], staging: Path) -> None:
    """Each staged output moved onto its target; the targets it replaces are moved aside first (a
    folder cannot be renamed onto a folder), and put back if any move fails."""
    moved: list[tuple[Path, Path]] = []
    try:
        for i, (target, slot) in enumerate(slots.items()):
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists() or target.is_symlink():
                old = staging / OLD / str(i) / target.name
                old.parent.mkdir(parents=True)
                os.replace(target, old)
                moved.append((target, old))
            os.replace(slot, target)
    except BaseException:
        for target, old in moved:
            remove(target)
            os.replace(old, target)
        raise


def remove_abandoned_staging(folder: Path) -> None:
    """Staging folders of a process that no longer runs (killed mid-write, `kill -9` included):
    a target it had moved aside and not yet replaced is put back, then the folder is removed."""
    for staging in folder.glob(f"{STAGING_PREFIX}*"):
        pid = staging.name.removeprefix(STAGING_PREFIX).partition("-")[0]
        if not pid.isdigit() or not _running(int(pid)):
            restore_moved_aside(staging)
            shutil.rmtree(staging, ignore_errors=True)


def restore_moved_aside(staging: Path) -> None:
    try:
        targets = json.loads((staging / TARGETS).read_text())
    except (OSError, ValueError):
        return
    for i, target in targets.items():
        old = staging / OLD / str(i) / Path(target).name
        if (old.exists() or old.is_symlink()) and not (Path(target).exists() or Path(target).is_symlink()):
            os.replace(old, target)


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


def existing_ancestor(path: Path) -> Path:
    """`path`, or the nearest folder above it that exists: where writing it would begin."""
    path = Path(path)
    while not path.exists():
        path = path.parent
    return path


def writable(folder: Path) -> bool:
    """Whether files can be made in `folder` (its nearest existing ancestor, if it does not exist
    yet), found by making one and removing it at once: permissions alone miss read-only mounts,
    /proc, and what root may not write."""
    folder = existing_ancestor(folder)
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
