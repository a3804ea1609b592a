"""Parquet shard I/O: the only way stages read and write data (docs/architecture.md)."""

from __future__ import annotations

import re
from collections.abc import Mapping
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


def _is_string(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _is_string_list(t: pa.DataType) -> bool:
    return (pa.types.is_list(t) or pa.types.is_large_list(t)) and (_is_string(t.value_type)
                                                                  or pa.types.is_null(t.value_type))


# The column types a stage can ask for (`require_columns`). An all-null column (type `null`, as
# written by a tool that had no value) passes any of them.
COLUMN_TYPES = {
    "string": _is_string,
    "integer": pa.types.is_integer,
    "list<string>": _is_string_list,
    "timestamp": lambda t: pa.types.is_timestamp(t) or pa.types.is_date(t),
}


def require_columns(table_or_schema: pa.Table | pa.Schema, columns: Mapping[str, str], path: Path | str,
                    optional: Mapping[str, str] | None = None) -> None:
    """Refuse an input shard that lacks a column a stage reads, or holds one of another type.

    `columns` (required) and `optional` (checked only when present) map a column name to one of
    COLUMN_TYPES. Raises UsageError with one line naming the file, the column, its type and the type
    expected -- rather than an AttributeError deep in a rule when `path` holds integers.
    """
    schema = table_or_schema.schema if isinstance(table_or_schema, pa.Table) else table_or_schema
    for name, kind in columns.items():
        if name not in schema.names:
            raise UsageError(f"no column `{name}` in {path} (columns: {', '.join(schema.names) or 'none'})")
    for name, kind in {**(optional or {}), **columns}.items():
        if name not in schema.names:
            continue
        found = schema.field(name).type
        if not (pa.types.is_null(found) or COLUMN_TYPES[kind](found)):
            raise UsageError(f"column `{name}` in {path} is {found}, expected {kind}")


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
