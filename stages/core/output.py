"""Opening an output folder, for every kind of output dscoder writes: a data stage's shards, a
training run, an eval run. One set of rules:

- OUTPUT that does not exist is created; one that is ours (it holds the kind's record: a data
  stage's `_dscoder/manifest.json`, a run's `config.yaml`, an eval's manifests) is resumed;
- a non-empty folder that is not ours is refused, and never deleted, even with `--overwrite`;
- an input (a data stage's INPUT or SOURCE, a training run's DATA and start checkpoint, eval's
  `--generations` and `--model`) is never deleted: OUTPUT may not be an input, and `--overwrite`
  is refused when an input lies inside OUTPUT (symlinks resolved);
- one writer per OUTPUT: the lock (`stages/core/lock.py`) is taken before anything is written or
  deleted; `--overwrite` is also refused while any other writer holds a lock in OUTPUT;
- `--overwrite` deletes an output of ours and starts over, but not under several ranks (they would
  delete each other's work);
- a resumed output whose recorded options differ from this run's is refused, naming each change
  (`refuse_changed`), unless `--overwrite`.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from . import lock as locks
from .atomic import writing
from .errors import UsageError

META = "_dscoder"


@dataclass(frozen=True)
class OutputKind:
    """How an output folder of one kind is recognised."""

    what: str  # in messages: "dscoder output", "dscoder training output", "dscoder eval output"
    is_ours: Callable[[Path], bool]  # the folder holds this kind's record
    # Names a folder may hold before it is ours (e.g. `dscoder submit` writes OUTPUT/_slurm first).
    may_hold: frozenset[str] = frozenset()


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def inputs_inside(root: Path, inputs: Iterable[Path | str | None]) -> list[tuple[Path, bool]]:
    """(input, is OUTPUT itself) for each input that is OUTPUT or lies inside it, comparing both the
    paths as given (made absolute) and with symlinks resolved."""
    root = Path(root)
    roots = {Path(os.path.abspath(root)), root.resolve()}
    found = []
    for item in inputs:
        if item is None or str(item) == "" or not os.path.lexists(item):
            continue  # what does not exist cannot be deleted (and may be a URL)
        p = Path(item)
        forms = {Path(os.path.abspath(p)), p.resolve()}
        if any(_inside(f, r) for f in forms for r in roots):
            found.append((p, any(f == r for f in forms for r in roots)))
    return found


def _only_locks(meta: Path) -> bool:
    try:
        return meta.is_dir() and all(p.name == locks.LOCKS for p in meta.iterdir())
    except OSError:
        return False


def _entries(root: Path) -> list[Path]:
    """What a folder holds, not counting a `_dscoder/` that holds nothing but locks (a writer that
    was refused, or failed before writing, leaves only that behind)."""
    return [p for p in root.iterdir() if not (p.name == META and _only_locks(p))]


class OpenedOutput:
    """An opened OUTPUT: its root, the lock held for this writer, and whether this call created it."""

    def __init__(self, root: Path, lock: locks.OutputLock | None, created: bool, meta_created: bool):
        self.root, self.lock, self.created, self._meta_created = root, lock, created, meta_created

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def discard(self) -> None:
        """Undo the opening of an output nothing was written to (a run that failed before its
        first write): release the lock and remove what this call created."""
        path = self.lock.path if self.lock is not None else None
        self.release()
        if self.created:
            shutil.rmtree(self.root, ignore_errors=True)
        elif self._meta_created and path is not None:
            path.unlink(missing_ok=True)
            for folder in (path.parent, path.parent.parent):
                try:
                    folder.rmdir()
                except OSError:
                    break

    def __enter__(self) -> "OpenedOutput":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def check_inputs(root: Path, inputs: Iterable, overwrite: bool) -> None:
    """Refuse OUTPUT = an input, and `--overwrite` of an OUTPUT an input lies inside."""
    for item, same in inputs_inside(root, inputs):
        if same:
            raise UsageError(f"{item} is both an input and the output of this command; "
                             "write to another output folder")
        if overwrite and Path(root).exists():
            raise UsageError(f"refusing to --overwrite {root}: the input {item} lies inside it and would be "
                             "deleted; write to another output folder (or move the input out first)")


def clear_output(root: Path) -> None:
    """Delete everything in OUTPUT but its lock files (other writers open those to be refused)."""
    for p in list(root.iterdir()):
        if p.name == META and p.is_dir() and not p.is_symlink():
            for q in list(p.iterdir()):
                if q.name != locks.LOCKS:
                    shutil.rmtree(q) if q.is_dir() and not q.is_symlink() else q.unlink()
        elif p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()


def open_output(root: Path, kind: OutputKind, *, overwrite: bool, world_size: int = 1,
                inputs: Iterable = (), lock: str | None = None, log: Callable[[str], None] | None = None,
                command: str | None = None) -> OpenedOutput:
    """Check (and with `overwrite` empty) OUTPUT before anything is written; returns it, created and,
    with `lock`, locked under that name (`rank-R` for a data stage's rank, `writer` for a run)."""
    root = Path(root)
    inputs = list(inputs)
    if root.exists() and not root.is_dir():
        raise UsageError(f"output {root} exists and is not a folder")
    check_inputs(root, inputs, overwrite)
    foreign = (root.is_dir() and not kind.is_ours(root)
               and any(p.name not in kind.may_hold for p in _entries(root)))
    if overwrite and root.exists():
        if world_size > 1:
            raise UsageError("--overwrite with several ranks would let them delete each other's work; "
                             "delete the output folder once, then start the ranks")
        if foreign:
            raise UsageError(f"refusing to --overwrite {root}: it is not a {kind.what}")
    elif foreign:
        raise UsageError(f"output folder {root} is not empty and is not a {kind.what}; choose another folder")
    created = not root.exists()
    meta_created = not (root / META / locks.LOCKS).exists()
    with writing(root):
        root.mkdir(parents=True, exist_ok=True)
    opened = OpenedOutput(root, None, created, meta_created)
    try:
        if lock is not None:
            opened.lock = locks.acquire(root, lock, what=kind.what, log=log, command=command)
        if overwrite and any(_entries(root)):
            mine = (opened.lock.path,) if opened.lock is not None else ()
            held = locks.held_by_others(root, mine)
            if held:
                path, record = held[0]
                raise UsageError(f"refusing to --overwrite {root}: {locks.describe_holder(record)} is writing "
                                 f"it (lock {path}); wait for it to finish or stop it first")
            with writing(root):
                clear_output(root)
    except locks.OutputLocked:
        opened.release()  # the folder is the holder's: leave it as it is
        raise
    except BaseException:
        opened.discard()
        raise
    return opened


def _flatten(obj, prefix: str = "") -> dict:
    """{"a": {"b": 1}, "c": [2]} -> {"a.b": 1, "c[0]": 2}: so a refusal names the one option changed."""
    if isinstance(obj, dict) and obj:
        out = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(obj, list) and obj:
        out = {}
        for i, v in enumerate(obj):
            out.update(_flatten(v, f"{prefix}[{i}]"))
        return out
    return {prefix: obj}


def option_changes(old: dict, new: dict) -> list[tuple[str, object, object]]:
    """(flattened name, old value, new value) of every option that differs."""
    old, new = _flatten(old), _flatten(new)
    return [(k, old.get(k), new.get(k)) for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]


def refuse_changed(root: Path, recorded: dict, current: dict, what: str = "options") -> None:
    """Raise UsageError naming every option that differs between `recorded` and `current`."""
    changes = option_changes(recorded, current)
    if changes:
        names = ", ".join(k for k, _, _ in changes)
        details = "; ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in changes)
        raise UsageError(f"{what} changed ({names}) on existing output {root}: {details}; "
                         "re-run with the old options to resume, or --overwrite to start over")
