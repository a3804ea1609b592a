"""Atomic file writes: temporary name in the same folder, flush + fsync, rename.

A reader (or a resumed run) therefore sees either the old file, no file, or the whole new file,
never a torn one -- the basis of the resume guarantee in DESIGN.md section 3.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

TMP_MARK = ".tmp-"


def tmp_name(path: Path) -> Path:
    # Hidden, pid-tagged: never matched by the part-*.parquet glob, never shared by two writers.
    return path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")


def remove_stale_tmp(path: Path) -> None:
    """Remove leftovers of a killed writer of `path` (any pid)."""
    for leftover in path.parent.glob(f".{path.name}{TMP_MARK}*"):
        leftover.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success fsync it and rename it to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_name(path)
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: Path, obj) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def create_json_exclusive(path: Path, obj) -> bool:
    """Create `path` only if it does not exist (atomic across processes and ranks).

    Returns True if this call created it. Used for the manifest, which several Slurm array tasks
    may try to create at the same moment.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_name(path)
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    try:
        os.link(tmp, path)  # link() fails if the target exists: first writer wins
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
