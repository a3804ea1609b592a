"""Parquet shard I/O: the only way stages read and write data (docs/architecture.md).

`read_shard` names the file and the problem in one line: a file pyarrow cannot parse (CorruptShard),
a column the stage needs that is not there ("no column X in FILE (columns: …)"), a column of the
`files`/`samples` schemas with another type, or a file that cannot be opened at all. It wraps only
errors of *reading*. `write_shard` always writes a table dscoder can read back: column names are
made unique (a `reason` the input already had becomes `input_reason`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .atomic import atomic_path
from .errors import CorruptShard, DscoderError, UsageError  # noqa: F401  (CorruptShard: raised by read_shard)

SHARD_GLOB = "part-*.parquet"
_SHARD_RE = re.compile(r"^part-[0-9A-Za-z_-]+\.parquet$")
# Big enough to keep Parquet pages efficient, small enough to read a row group at a time later.
ROW_GROUP_ROWS = 4096


def shard_name(index: int) -> str:
    return f"part-{index:05d}"


def list_shards(folder: Path) -> list[Path]:
    """The input shards of a stage folder, in name order (the order defines output order). In a
    dscoder output folder, only the shards of its done units (`check_complete_input` has refused an
    incomplete one unless --allow-partial): a renamed shard whose marker was never written is not
    part of it."""
    from .manifest import done_unit_names

    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"input folder {folder} does not exist or is not a folder")
    shards = sorted(p for p in folder.glob(SHARD_GLOB) if _SHARD_RE.match(p.name))
    done = done_unit_names(folder)
    if done is not None:
        shards = [p for p in shards if p.stem in done]
    if not shards:
        raise UsageError(f"input folder {folder} has no {SHARD_GLOB} shards"
                         + (" of finished units" if done is not None else ""))
    return shards


def _family(t: pa.DataType) -> str:
    """Type families that are interchangeable for dscoder (string = large_string, any int width)."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or getattr(pa.types, "is_string_view", lambda _: False)(t):
        return "string"
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "timestamp"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"list<{_family(t.value_type)}>"
    if pa.types.is_null(t):
        return "null"
    return str(t)


def _known_types() -> dict[str, str]:
    from .schemas import FILES_SCHEMA, SAMPLES_SCHEMA
    return {f.name: _family(f.type) for schema in (FILES_SCHEMA, SAMPLES_SCHEMA) for f in schema}


def check_columns(path: Path, schema: pa.Schema, columns: list[str] | None) -> None:
    """read_shard's check: the columns asked for exist, and every column of the files/samples
    schemas that is read has its schema type (require_columns)."""
    known = _known_types()
    read = schema.names if columns is None else columns
    require_columns(schema, {c: known.get(c) for c in columns or ()}, path,
                    optional={c: known[c] for c in read if c in known})


def read_shard(path: Path, columns: list[str] | None = None) -> pa.Table:
    try:
        pf = pq.ParquetFile(path)
        check_columns(path, pf.schema_arrow, columns)
        # unique_columns: files written before write_shard made names unique (a second `reason`)
        return unique_columns(pf.read(columns=columns))
    except DscoderError:
        raise
    except OSError as exc:
        if exc.errno is not None:  # the file system's answer, not the file's contents
            raise DscoderError(f"cannot read input shard {path}: {exc.strerror or exc}") from exc
        raise CorruptShard(f"{path}: cannot read Parquet ({exc})") from exc
    except pa.ArrowException as exc:
        raise CorruptShard(f"{path}: cannot read Parquet ({exc})") from exc


def unique_columns(table: pa.Table) -> pa.Table:
    """The same table with unique column names: where a stage added a column the input already had
    (`reason` on rows of a `_rejected/` folder), the stage's (last) one keeps the name and the
    earlier ones become `input_<name>` (then `input2_<name>`, …)."""
    names = table.column_names
    if len(set(names)) == len(names):
        return table
    taken = set(names)
    new = list(names)
    for i, name in enumerate(names):
        if name in names[i + 1:]:
            k = 1
            while (candidate := f"input{k if k > 1 else ''}_{name}") in taken:
                k += 1
            taken.add(candidate)
            new[i] = candidate
    return table.rename_columns(new)


def _fits(found: pa.DataType, kind: str | None) -> bool:
    """Whether a column of type `found` can be read as `kind` (a `_family`; None: any type). An
    all-null column (type `null`, as written by a tool that had no value) fits every kind."""
    got = _family(found)
    return kind is None or got in (kind, "null") or (kind.startswith("list<") and got == "list<null>")


def require_columns(table_or_schema: pa.Table | pa.Schema, columns: Mapping[str, str | None], path: Path | str,
                    optional: Mapping[str, str | None] | None = None) -> None:
    """Refuse an input shard that lacks a column a stage reads, or holds one of another type.

    `columns` (required) and `optional` (checked only when present) map a column name to a type
    family (`_family`: "string", "integer", "timestamp", "list<string>", …; None: any type). Raises
    UsageError with one line naming the file, the column, its type and the type expected -- rather
    than an AttributeError deep in a rule when `path` holds integers.
    """
    schema = table_or_schema.schema if isinstance(table_or_schema, pa.Table) else table_or_schema
    missing = [name for name in columns if name not in schema.names]
    if missing:
        raise UsageError(f"no column {', '.join(f'`{n}`' for n in missing)} in {path} "
                         f"(columns: {', '.join(schema.names) or 'none'})")
    for name, kind in {**(optional or {}), **columns}.items():
        if name in schema.names and not _fits(schema.field(name).type, kind):
            raise UsageError(f"column `{name}` in {path} is {schema.field(name).type}, expected {kind}")


def write_shard(table: pa.Table, path: Path) -> int:
    """Write `table` to `path` atomically; returns the file size in bytes."""
    table = unique_columns(table)
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
