"""Parquet shard I/O: the only way stages read and write data (docs/architecture.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .atomic import atomic_path
from .errors import CorruptShard, UsageError  # noqa: F401  (CorruptShard: raised by read_shard)

SHARD_GLOB = "part-*.parquet"
_SHARD_RE = re.compile(r"^part-[0-9A-Za-z_-]+\.parquet$")
# Big enough to keep Parquet pages efficient, small enough to read a row group at a time later.
ROW_GROUP_ROWS = 4096


def shard_name(index: int) -> str:
    return f"part-{index:05d}"


def list_shards(folder: Path) -> list[Path]:
    """The input shards of a stage folder, in name order (the order defines output order)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"input folder {folder} does not exist or is not a folder")
    shards = sorted(p for p in folder.glob(SHARD_GLOB) if _SHARD_RE.match(p.name))
    if not shards:
        raise UsageError(f"input folder {folder} has no {SHARD_GLOB} shards")
    return shards


def read_shard(path: Path, columns: list[str] | None = None) -> pa.Table:
    try:
        return pq.read_table(path, columns=columns)
    except (pa.ArrowException, OSError) as exc:
        raise CorruptShard(f"{path}: cannot read Parquet ({exc})") from exc


def write_shard(table: pa.Table, path: Path) -> int:
    """Write `table` to `path` atomically; returns the file size in bytes."""
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, row_group_size=ROW_GROUP_ROWS, compression="zstd")
    return path.stat().st_size


def shard_units(folder: Path, with_index: bool = False):
    """One unit per input shard, named like it: the plan of every shard-to-shard stage."""
    from .stage import Unit
    return [Unit(p.stem, [{"path": str(p.resolve()), "size": p.stat().st_size,
                           **({"index": i} if with_index else {})}])
            for i, p in enumerate(list_shards(folder))]


def check_same_units(now, then, what: str = "input shards") -> None:
    """Refuse to resume when the units' inputs differ from the recorded plan."""
    a = {u.name: u.inputs for u in now}
    b = {u.name: u.inputs for u in then}
    if a != b:
        changed = sorted(set(a) ^ set(b) | {k for k in a if k in b and a[k] != b[k]})
        raise UsageError(f"the {what} changed since this output was started "
                         f"({', '.join(changed[:5])}{' …' if len(changed) > 5 else ''}); "
                         "use --overwrite to start over")


def check_shard_units(folder: Path, units) -> None:
    """Refuse to resume when the input shards (names or sizes) differ from the recorded plan."""
    check_same_units(shard_units(folder), units)
