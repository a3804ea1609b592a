"""Parquet shard I/O and units of work: the only way stages read and write data (docs/architecture.md).

`read_shard` names the file and the problem in one line: a file pyarrow cannot parse (CorruptShard),
a column the stage needs that is not there ("no column X in FILE (columns: …)"), a column of the
`files`/`samples` schemas with another type, or a file that cannot be opened at all. It wraps only
errors of *reading*. `write_shard` always writes a table dscoder can read back: column names are
made unique (a `reason` the input already had becomes `input_reason`), and its row groups hold at
most `ROW_GROUP_ROWS` rows and about `ROW_GROUP_BYTES` of data.

Units of work (docs/architecture.md#units-of-work): `plan_units` cuts each input shard into units of
consecutive row groups of about `UNIT_BYTES` (never cutting a repository where the shard has a
`repo` column), so `--workers N` keeps N processes busy on a single-shard input; `read_unit` and
`iter_unit_batches` read one unit, the latter in batches of bounded size (memory per worker).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .atomic import atomic_path
from .errors import CorruptShard, DscoderError, UsageError  # noqa: F401  (CorruptShard: raised by read_shard)

SHARD_GLOB = "part-*.parquet"
_SHARD_RE = re.compile(r"^part-[0-9A-Za-z_-]+\.parquet$")
# A row group is what a stage reads at a time (its memory) and the finest cut between units of work:
# at most 4096 rows and about 4 MB of data (a larger row -- a big sample -- is a row group alone).
# Parquet pages (1 MB) stay efficient; the metadata of a 64 MB shard lists ~16 row groups.
ROW_GROUP_ROWS = 4096
ROW_GROUP_BYTES = 4 << 20
# A unit of work: consecutive row groups of one shard, up to about this much uncompressed data (one
# repository larger than this is a unit alone). Small enough that a 64 MB shard (crawl's default)
# keeps 4 workers busy and a 256 MB one 16, and that the runner balances uneven units (a unit is
# ~1/16 of a 256 MB input), while a worker's memory stays small; large enough that per-unit costs
# (an output file, a done-marker, opening the shard: milliseconds) stay negligible next to the
# seconds a unit takes. Changing it changes how outputs are sharded, never their rows.
UNIT_BYTES = 16 << 20
# What a stage holds of a unit at a time when it streams it (iter_unit_batches).
BATCH_BYTES = 8 << 20


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


def read_shard(path: Path, columns: list[str] | None = None, row_groups: list[int] | None = None) -> pa.Table:
    """A shard's table (only `columns`, only `row_groups` when given), its columns checked."""
    try:
        pf = pq.ParquetFile(path)
        check_columns(path, pf.schema_arrow, columns)
        # unique_columns: files written before write_shard made names unique (a second `reason`)
        table = pf.read(columns=columns) if row_groups is None else pf.read_row_groups(row_groups, columns=columns)
        return unique_columns(table)
    except DscoderError:
        raise
    except (OSError, pa.ArrowException) as exc:
        raise _read_error(path, exc) from exc


def _read_error(path: Path, exc: Exception) -> DscoderError:
    if isinstance(exc, OSError) and exc.errno is not None:  # the file system's answer, not the file's contents
        return DscoderError(f"cannot read input shard {path}: {exc.strerror or exc}")
    return CorruptShard(f"{path}: cannot read Parquet ({exc})")


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


def row_bytes(table: pa.Table | pa.RecordBatch) -> np.ndarray:
    """Each row's size in bytes, as row groups and batches are cut by: its string and binary values
    (the data that matters: texts, contents) plus 16 bytes for everything else."""
    size = np.full(table.num_rows, 16, dtype=np.int64)
    for column in table.columns:
        t = column.type
        if pa.types.is_dictionary(t):
            continue
        if (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)
                or pa.types.is_large_binary(t)):
            size += np.asarray(pc.fill_null(pc.binary_length(column), 0).to_numpy(zero_copy_only=False),
                               dtype=np.int64)
    return size


def cuts(sizes: np.ndarray, max_bytes: int, max_rows: int | None = None) -> list[int]:
    """Row offsets [0, …, n] cutting rows of `sizes` into consecutive groups of at most `max_rows`
    rows and `max_bytes` bytes each (a row larger than that is a group by itself)."""
    n = int(sizes.size)
    ends = np.cumsum(sizes)
    out = [0]
    while out[-1] < n:
        start = out[-1]
        before = int(ends[start - 1]) if start else 0
        stop = int(np.searchsorted(ends, before + max_bytes, side="right"))
        stop = max(stop, start + 1)
        if max_rows is not None:
            stop = min(stop, start + max_rows)
        out.append(min(stop, n))
    return out


def write_shard(table: pa.Table, path: Path) -> int:
    """Write `table` to `path` atomically; returns the file size in bytes.

    Row groups of at most ROW_GROUP_ROWS rows and about ROW_GROUP_BYTES (a larger row alone), each
    written from one contiguous chunk: the bytes depend only on the rows, not on how the stage
    built its table (batches, concatenations), so any number of workers writes identical files.
    With a `repo` column, row groups end where a repository does (`row_group_bounds`), so a later
    stage can cut the shard into units of whole repositories between any two of them.
    """
    table = unique_columns(table)
    with atomic_path(path) as tmp:
        if table.num_rows == 0:
            pq.write_table(table, tmp, compression="zstd")
        else:
            bounds = row_group_bounds(table)
            with pq.ParquetWriter(tmp, table.schema, compression="zstd",
                                  use_dictionary=dictionary_columns(table)) as writer:
                for start, stop in zip(bounds, bounds[1:]):
                    writer.write_table(table.slice(start, stop - start).combine_chunks(),
                                       row_group_size=stop - start)
    return path.stat().st_size


# Values longer than this on average (file and sample texts) are written without a dictionary.
LONG_VALUE_BYTES = 1024


def dictionary_columns(table: pa.Table) -> list[str]:
    """The Parquet leaf columns of `table` worth a dictionary: all but the long-text ones.

    Parquet writers try a dictionary for every column and fall back to plain encoding once it
    outgrows a page; for a column of file texts that try hashes every byte and saves nothing: it
    was 0.7 s of a 0.93 s write of 80 MB of samples (0.21 s without, 0.1% larger file). Short
    values (repositories, paths, languages, licences) keep their dictionary."""
    leaves: list[str] = []
    for field in table.schema:
        column = table.column(field.name)
        if _is_text(field.type) and len(column) and \
                (pc.sum(pc.binary_length(column)).as_py() or 0) > LONG_VALUE_BYTES * len(column):
            continue
        leaves += _leaf_paths(field.name, field.type)
    return leaves


def _is_text(type_: pa.DataType) -> bool:
    return (pa.types.is_string(type_) or pa.types.is_large_string(type_) or pa.types.is_binary(type_)
            or pa.types.is_large_binary(type_))


def _leaf_paths(name: str, type_: pa.DataType) -> list[str]:
    """A column's leaves as Parquet names them (`paths.list.element`, `syntax_scores.list.element.lang`)."""
    if pa.types.is_struct(type_):
        return [leaf for i in range(type_.num_fields)
                for leaf in _leaf_paths(f"{name}.{type_.field(i).name}", type_.field(i).type)]
    if pa.types.is_map(type_):
        return _leaf_paths(f"{name}.key_value.key", type_.key_type) + \
            _leaf_paths(f"{name}.key_value.value", type_.item_type)
    if pa.types.is_list(type_) or pa.types.is_large_list(type_) or pa.types.is_fixed_size_list(type_):
        return _leaf_paths(f"{name}.list.element", type_.value_type)
    return [name]


def row_group_bounds(table: pa.Table, together: str = "repo") -> list[int]:
    """Row offsets [0, …, n] of the row groups write_shard writes: consecutive runs of rows with the
    same `together` value (a repository) packed into groups of at most ROW_GROUP_ROWS rows and about
    ROW_GROUP_BYTES; a run larger than that is cut into groups of its own. Without the column (or
    not a string): plain `cuts`."""
    sizes = row_bytes(table)
    n = table.num_rows
    column = table.column(together) if together in table.column_names else None
    if column is None or not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)) or n < 2:
        return cuts(sizes, ROW_GROUP_BYTES, ROW_GROUP_ROWS)
    values = pc.fill_null(column, "\x00null").combine_chunks()
    change = pc.not_equal(values.slice(1), values.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    starts = [0, *(np.flatnonzero(change) + 1).tolist(), n]
    ends = np.concatenate([[0], np.cumsum(sizes)])
    out, group_start = [0], 0
    for a, b in zip(starts, starts[1:]):
        if (ends[b] - ends[group_start] <= ROW_GROUP_BYTES and b - group_start <= ROW_GROUP_ROWS) or a == group_start:
            if a == group_start and (ends[b] - ends[a] > ROW_GROUP_BYTES or b - a > ROW_GROUP_ROWS):
                out += [a + c for c in cuts(sizes[a:b], ROW_GROUP_BYTES, ROW_GROUP_ROWS)[1:]]
                group_start = b
            continue  # the run joins the open group
        out.append(a)  # close the group before this run
        group_start = a
        if ends[b] - ends[a] > ROW_GROUP_BYTES or b - a > ROW_GROUP_ROWS:
            out += [a + c for c in cuts(sizes[a:b], ROW_GROUP_BYTES, ROW_GROUP_ROWS)[1:]]
            group_start = b
    if out[-1] != n:
        out.append(n)
    return out


def shard_units(folder: Path, with_index: bool = False):
    """One unit per input shard, named like it (whole files: a phase's own outputs)."""
    from .stage import Unit
    return [Unit(p.stem, [{"path": str(p.resolve()), "size": p.stat().st_size,
                           **({"index": i} if with_index else {})}])
            for i, p in enumerate(list_shards(folder))]


# -- units of work ---------------------------------------------------------------------------------

def _row_group_blocks(pf: pq.ParquetFile, together: str | None) -> list[tuple[int, int]]:
    """Runs [a, b) of row groups that must stay in one unit: no value of column `together` (the
    repository) has rows on both sides of a cut between two blocks, contiguous or not."""
    n = pf.metadata.num_row_groups
    if together is None or together not in pf.schema_arrow.names or n <= 1:
        return [(i, i + 1) for i in range(n)]
    last: dict = {}
    firsts: list[list] = []
    for i in range(n):
        values = pc.unique(pf.read_row_group(i, columns=[together]).column(0)).to_pylist()
        firsts.append([v for v in values if v not in last])
        for v in values:
            last[v] = i
    blocks, start, reach = [], 0, 0
    for i in range(n):
        for v in firsts[i]:
            reach = max(reach, last[v])
        if reach <= i:  # no repository seen so far continues after row group i
            blocks.append((start, i + 1))
            start = i + 1
    return blocks


def shard_slices(path: Path, together: str | None = "repo", unit_bytes: int | None = None) -> list[dict]:
    """The units of one shard as unit inputs: the whole file, or consecutive row groups of about
    `unit_bytes` each (`row_groups` [first, stop), `rows` [first, stop), `size`: their bytes on disk,
    `file_size`: the shard's, checked on resume).

    A shard whose metadata cannot be read is one unit: processing it reports the problem."""
    unit_bytes = UNIT_BYTES if unit_bytes is None else unit_bytes
    whole = [{"path": str(path.resolve()), "size": path.stat().st_size}]
    try:
        pf = pq.ParquetFile(path)
        meta = pf.metadata
        if meta.num_row_groups <= 1:
            return whole
        blocks = _row_group_blocks(pf, together)
    except (OSError, pa.ArrowException):
        return whole
    groups = [meta.row_group(i) for i in range(meta.num_row_groups)]
    units: list[list[tuple[int, int]]] = []
    size = 0
    for a, b in blocks:
        block = sum(groups[i].total_byte_size for i in range(a, b))
        if units and size + block <= unit_bytes:
            units[-1].append((a, b))
            size += block
        else:
            units.append([(a, b)])
            size = block
    if len(units) == 1:
        return whole
    row_start = np.concatenate([[0], np.cumsum([g.num_rows for g in groups])]).tolist()
    out = []
    for blocks_ in units:
        first, stop = blocks_[0][0], blocks_[-1][1]
        on_disk = sum(groups[i].column(c).total_compressed_size for i in range(first, stop)
                      for c in range(groups[i].num_columns))
        out.append({"path": whole[0]["path"], "size": int(on_disk), "file_size": whole[0]["size"],
                    "row_groups": [first, stop], "rows": [int(row_start[first]), int(row_start[stop])]})
    return out


def plan_units(folder: Path, together: str | None = "repo", with_index: bool = False,
               unit_bytes: int | None = None):
    """The units of work of a shard-to-shard stage, in output order: each input shard whole, or cut
    into consecutive row groups of about `unit_bytes` (`shard_slices`), never splitting the rows of
    one value of `together` (a repository) between two units. A shard cut into k units gives units
    `STEM-000` … (so output shards sort in input order); `with_index` numbers the units (dedup's keys)."""
    from .stage import Unit
    units = []
    for path in list_shards(folder):
        slices = shard_slices(path, together, unit_bytes)
        width = max(3, len(str(len(slices) - 1)))
        for k, item in enumerate(slices):
            units.append(Unit(path.stem if len(slices) == 1 else f"{path.stem}-{k:0{width}d}", [item]))
    if with_index:
        for i, u in enumerate(units):
            u.inputs[0]["index"] = i
    return units


def unit_row_groups(item: dict) -> list[int] | None:
    """The row groups a unit input covers; None: the whole file."""
    rg = item.get("row_groups")
    return None if rg is None else list(range(int(rg[0]), int(rg[1])))


def read_unit(item: dict, columns: list[str] | None = None) -> pa.Table:
    """The rows of one unit input (a whole shard, or its row groups), columns checked as read_shard."""
    return read_shard(Path(item["path"]), columns, unit_row_groups(item))


def iter_unit_batches(item: dict, columns: list[str] | None = None,
                      max_bytes: int = BATCH_BYTES) -> Iterator[pa.Table]:
    """The rows of one unit input, in order, in tables of about `max_bytes` (a larger row alone):
    what a worker holds at a time. Read errors are CorruptShard / DscoderError as in read_shard."""
    path = Path(item["path"])
    try:
        pf = pq.ParquetFile(path)
        check_columns(path, pf.schema_arrow, columns)
        groups = unit_row_groups(item)
        groups = range(pf.metadata.num_row_groups) if groups is None else groups
        meta = pf.metadata
    except DscoderError:
        raise
    except (OSError, pa.ArrowException) as exc:
        raise _read_error(path, exc) from exc
    for i in groups:
        rg = meta.row_group(i)
        try:
            if rg.total_byte_size <= 2 * max_bytes or rg.num_rows <= 1:
                parts = [pf.read_row_group(i, columns=columns)]
            else:  # a foreign shard's large row group: read it in slices
                rows = max(1, int(rg.num_rows * max_bytes / rg.total_byte_size))
                parts = (pa.Table.from_batches([b]) for b in pf.iter_batches(rows, row_groups=[i], columns=columns))
            for part in parts:
                part = unique_columns(part)
                bounds = cuts(row_bytes(part), max_bytes)
                for start, stop in zip(bounds, bounds[1:]):
                    yield part.slice(start, stop - start)
        except (OSError, pa.ArrowException) as exc:
            raise _read_error(path, exc) from exc


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
    """Refuse to resume when the input shards (names or sizes) differ from the files the recorded
    units read (the plan itself is not redone: only the files are listed)."""
    now = {p.name: p.stat().st_size for p in list_shards(folder)}
    then = {Path(i["path"]).name: int(i.get("file_size", i["size"])) for u in units for i in u.inputs}
    changed = sorted(set(now) ^ set(then) | {n for n in now if n in then and then[n] != now[n]})
    if changed:
        raise UsageError(f"the input shards changed since this output was started "
                         f"({', '.join(changed[:5])}{' …' if len(changed) > 5 else ''}); "
                         "use --overwrite to start over")
