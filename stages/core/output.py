"""Opening an output folder, for every kind of output dscoder writes: a data stage's shards, a
training run, an eval run. One set of rules:

- OUTPUT that does not exist is created; one that is ours (it holds the kind's record: a data
  stage's `_dscoder/manifest.json`, a run's `config.yaml`, an eval's manifests) is resumed;
- a non-empty folder that is not ours is refused, and never deleted, even with `--overwrite`;
- `--overwrite` deletes an output of ours and starts over, but not under several ranks (they would
  delete each other's work);
- a resumed output whose recorded options differ from this run's is refused, naming each change
  (`refuse_changed`), unless `--overwrite`.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import UsageError


@dataclass(frozen=True)
class OutputKind:
    """How an output folder of one kind is recognised."""

    what: str  # in messages: "dscoder output", "dscoder training output", "dscoder eval output"
    is_ours: Callable[[Path], bool]  # the folder holds this kind's record
    # Names a folder may hold before it is ours (e.g. `dscoder submit` writes OUTPUT/_slurm first).
    may_hold: frozenset[str] = frozenset()


def open_output(root: Path, kind: OutputKind, *, overwrite: bool, world_size: int = 1) -> Path:
    """Check (and with `overwrite` empty) OUTPUT before anything is written; returns it, created."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise UsageError(f"output {root} exists and is not a folder")
    foreign = (root.is_dir() and not kind.is_ours(root)
               and any(p.name not in kind.may_hold for p in root.iterdir()))
    if overwrite and root.exists():
        if world_size > 1:
            raise UsageError("--overwrite with several ranks would let them delete each other's work; "
                             "delete the output folder once, then start the ranks")
        if foreign:
            raise UsageError(f"refusing to --overwrite {root}: it is not a {kind.what}")
        shutil.rmtree(root)
    elif foreign:
        raise UsageError(f"output folder {root} is not empty and is not a {kind.what}; choose another folder")
    root.mkdir(parents=True, exist_ok=True)
    return root


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
