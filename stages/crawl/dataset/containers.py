"""The data files of a dataset SOURCE, and how each is read a chunk at a time.

A SOURCE is one data file or a folder tree of them, under any names: Parquet (`.parquet`), JSON
lines (`.jsonl`, `.ndjson`, `.json`, each optionally `.gz`) and Arrow IPC (`.arrow`, the stream
format HF `datasets` writes with `save_to_disk`, or the file format). A folder saved by `datasets`
is read in its own order: `dataset_dict.json`'s splits, each split's `state.json` data files;
any other folder in path order (bytes), hidden entries and dscoder's own folders left out.

A *chunk* is the unit of reading: consecutive Parquet row groups, Arrow record batches or JSONL
lines of about `CHUNK_BYTES`. The plan pass reads each chunk's repository column only (plus a size
hint); a unit later reads only the chunks that hold its repositories, and of those only its rows
(filtered in Arrow before any content becomes a Python string).
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

# Enough rows per chunk that the manifest stays small, few enough that a repository spread over a
# file costs little re-reading (docs/crawl.md#datasets); at most an eighth of a unit (plan.py), so a
# chunk shared by two neighbouring units costs a unit at most 1/8 more reading.
CHUNK_BYTES = 32 << 20
BATCH_ROWS = 1024

# What `datasets` writes beside its data (never data itself).
HF_METADATA = frozenset({"dataset_info.json", "state.json", "dataset_dict.json", "dataset_infos.json"})
# Folders of a dscoder output: never data of a dataset SOURCE.
DSCODER_FOLDERS = frozenset({"_dscoder", "_rejected", "_slurm"})
_JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json", ".jsonl.gz", ".ndjson.gz", ".json.gz")
_DOC_PREFIXES = ("readme", "license", "licence", "copying", "notice", "citation", "changelog")


class DataFileError(Exception):
    """A data file that cannot be read (at all, or from some point on); the message names why."""


def container_of(name: str) -> str | None:
    """`parquet`, `jsonl` or `arrow` by a file's name; None for anything else."""
    low = name.lower()
    if low in HF_METADATA:
        return None
    if low.endswith(".parquet"):
        return "parquet"
    if low.endswith(".arrow"):
        return "arrow"
    if low.endswith(_JSONL_SUFFIXES):
        return "jsonl"
    return None


def _is_documentation(name: str) -> bool:
    low = name.lower()
    return low.startswith(_DOC_PREFIXES) or low.endswith((".md", ".txt")) or low in HF_METADATA


def _skipped(name: str) -> bool:
    return name.startswith(".") or name in DSCODER_FOLDERS


def is_hf_folder(folder: Path) -> bool:
    """A folder written by `Dataset.save_to_disk` or `DatasetDict.save_to_disk`."""
    return (folder / "dataset_dict.json").is_file() or (
        (folder / "state.json").is_file() and (folder / "dataset_info.json").is_file())


def looks_like_dataset(path: Path) -> bool:
    """A data file, a folder saved by `datasets`, or a folder tree whose files are all data files
    (documentation such as README.md allowed) with at least one of them: then SOURCE is a dataset,
    not a folder of repositories (whose first source file ends the walk)."""
    if path.is_file():
        return container_of(path.name) is not None
    if not path.is_dir():
        return False
    if is_hf_folder(path):
        return True
    found = False
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if not _skipped(d))
        for name in filenames:
            if _skipped(name):
                continue
            if container_of(name):
                found = True
            elif not _is_documentation(name):
                return False
    return found


@dataclass(frozen=True)
class DataFile:
    path: str  # absolute
    rel: str  # as shown in messages and in rejected rows' `source`: relative to SOURCE
    container: str  # parquet | jsonl | arrow


def list_data_files(source: Path) -> tuple[list[DataFile], list[str]]:
    """(the data files in reading order, the other files found and not read)."""
    source = Path(source).resolve()
    if source.is_file():
        container = container_of(source.name)
        return ([DataFile(str(source), source.name, container)] if container else []), []
    base = source
    out: list[DataFile] = []
    ignored: list[str] = []

    def add(p: Path) -> None:
        out.append(DataFile(str(p), p.relative_to(base).as_posix(), container_of(p.name) or "arrow"))

    def hf(folder: Path) -> bool:
        if (folder / "dataset_dict.json").is_file():
            splits = _read_json(folder / "dataset_dict.json").get("splits") or []
            for split in splits:
                if not isinstance(split, str) or "/" in split or split.startswith("."):
                    raise DataFileError(f"{folder / 'dataset_dict.json'}: bad split name {split!r}")
                hf(folder / split)
            return True
        if (folder / "state.json").is_file():
            entries = _read_json(folder / "state.json").get("_data_files") or []
            for entry in entries:
                name = entry.get("filename") if isinstance(entry, dict) else None
                if not isinstance(name, str) or "/" in name or name.startswith("."):
                    raise DataFileError(f"{folder / 'state.json'}: bad data file entry {entry!r}")
                add(folder / name)
            return True
        return False

    if is_hf_folder(source):
        hf(source)
        return out, ignored
    for dirpath, dirnames, filenames in os.walk(source):
        dirnames[:] = sorted((d for d in dirnames if not _skipped(d)), key=os.fsencode)
        for name in sorted(filenames, key=os.fsencode):
            if _skipped(name):
                continue
            p = Path(dirpath) / name
            if container_of(name) and not os.path.islink(p):
                add(p)
            else:
                ignored.append(p.relative_to(base).as_posix())
    return out, ignored


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataFileError(f"{path}: cannot read ({exc})") from exc
    if not isinstance(value, dict):
        raise DataFileError(f"{path}: not a JSON object")
    return value


# --- readers ----------------------------------------------------------------------------------


@dataclass
class PlanChunk:
    """What the plan pass learns of one chunk: where it is, and each row's repository and size."""

    spec: dict  # how to find the chunk again (JSON-able): row groups, batches or a byte range
    repos: list  # per row: the repository name (str) or None (missing, not a string)
    sizes: list[int]  # per row: estimated bytes of content


@dataclass(frozen=True)
class SizeHint:
    """How the plan pass estimates a row's bytes: a size column, the content's length, the summed
    lengths of a repository row's files, or (None of them) the chunk's bytes spread evenly."""

    column: str | None = None
    content: str | None = None
    files: str | None = None
    file_content: str | None = None


def repo_name(value) -> str | None:
    """A repository value as the plan and every unit see it: a non-empty string, else None."""
    return value if isinstance(value, str) and value else None


class TableFile:
    """Parquet and Arrow files: columns, typed; read by record batches."""

    rel: str
    schema: pa.Schema
    lengths_are_cheap = False  # a text column's lengths without reading its characters (Arrow: offsets)

    def columns(self) -> list[str]:
        return list(self.schema.names)

    def _batches(self, spec: dict, columns: list[str]) -> Iterator[tuple[int, pa.RecordBatch]]:
        raise NotImplementedError

    def _plan_specs(self, chunk_bytes: int) -> Iterator[tuple[dict, int]]:
        """(chunk spec, estimated bytes) for each chunk of about `chunk_bytes`, in order."""
        raise NotImplementedError

    def plan_chunks(self, repo_column: str | None, hint: SizeHint, chunk_bytes: int = CHUNK_BYTES
                    ) -> Iterator[PlanChunk]:
        """Each chunk's repositories (None for a row without one; all None with no `repo_column`,
        for a file the unit cannot read rows of) and sizes."""
        names = self.schema.names
        if hint.column in names and pa.types.is_integer(self.schema.field(hint.column).type):
            sizing = [hint.column]
        elif self.lengths_are_cheap:
            sizing = [c for c in (hint.content, hint.files) if c in names][:1]
        else:  # Parquet would decode every content to measure it: the row groups' sizes instead
            sizing = []
        wanted = ([repo_column] if repo_column else []) + [c for c in sizing if c != repo_column]
        for spec, nbytes in self._plan_specs(chunk_bytes):
            repos: list = []
            sizes: list[int] = []
            for _, batch in self._batches(spec, wanted):
                if repo_column is None:
                    repos.extend([None] * batch.num_rows)
                else:
                    repos.extend(repo_name(v) for v in as_string(batch.column(repo_column)).to_pylist())
                sizes.extend(self._sizes(batch, hint))
            if not any(sizes) and repos:  # no size information: the chunk's bytes spread evenly
                sizes = [nbytes // len(repos)] * len(repos)
            yield PlanChunk(spec, repos, sizes)

    def _sizes(self, batch: pa.RecordBatch, hint: SizeHint) -> list[int]:
        names = batch.schema.names
        if hint.column in names and pa.types.is_integer(batch.schema.field(hint.column).type):
            return [max(int(v or 0), 0) for v in batch.column(hint.column).to_pylist()]
        # Lengths come from the offsets alone (Arrow): no content is decoded into Python.
        if hint.content in names and is_text_type(batch.schema.field(hint.content).type):
            content = batch.column(hint.content)
            if pa.types.is_dictionary(content.type):
                content = content.dictionary_decode()
            return pc.fill_null(pc.binary_length(content), 0).to_pylist()
        if hint.files in names and hint.file_content:
            files = batch.column(hint.files)
            t = files.type
            if (pa.types.is_list(t) or pa.types.is_large_list(t)) and pa.types.is_struct(t.value_type) \
                    and t.value_type.get_field_index(hint.file_content) >= 0 \
                    and _is_text(t.value_type.field(hint.file_content).type):
                flat = pc.list_flatten(files)
                lengths = pc.fill_null(pc.binary_length(pc.struct_field(flat, hint.file_content)), 0)
                parents = pc.list_parent_indices(files)
                return np.bincount(np.asarray(parents), weights=np.asarray(lengths),
                                   minlength=len(batch)).astype(np.int64).tolist()
        return [0] * batch.num_rows

    def rows(self, spec: dict, columns: list[str], repo_column: str, select: Selection | None
             ) -> Iterator[tuple[int, dict]]:
        """(row number in the file, {column: value}) of the chunk's rows that `select` picks (all
        rows if None). The repository column must be text (the plan checks it per file)."""
        for first, batch in self._batches(spec, columns):
            if select is not None:
                col = as_string(batch.column(repo_column))
                mask = pc.fill_null(pc.is_in(col, value_set=select.array), False)
                if select.invalid:
                    mask = pc.or_(mask, pc.fill_null(pc.equal(pc.binary_length(col), 0), True))
                index = np.flatnonzero(np.asarray(mask))
                if not len(index):
                    continue
                batch = batch.take(pa.array(index))
            else:
                index = np.arange(batch.num_rows)
            for i, row in zip(index.tolist(), _pylist_rows(batch, first)):
                yield first + i, row


@dataclass
class Selection:
    """The rows a unit reads of a chunk: those of its repositories, and (`invalid`: the unit owns
    the chunk) those without a usable repository name."""

    names: frozenset
    invalid: bool

    def __post_init__(self):
        self.array = pa.array(sorted(self.names), pa.string())

    def picks(self, name: str | None) -> bool:
        return name in self.names if name is not None else self.invalid


def as_string(col: pa.Array) -> pa.Array:
    """A text column as plain `string` (dictionary-encoded, large and view strings decoded)."""
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    return col if pa.types.is_string(col.type) else pc.cast(col, pa.string())


def is_text_type(t: pa.DataType) -> bool:
    """String-like (what a repository, path or content column may be): also dictionary-encoded."""
    return _is_text(t.value_type if pa.types.is_dictionary(t) else t)


def _pylist_rows(batch: pa.RecordBatch, first: int) -> list[dict]:
    try:
        return batch.to_pylist()
    except (UnicodeDecodeError, pa.ArrowException):
        # A string that is not UTF-8 (Parquet does not check): the row says so, its neighbours go on.
        out = []
        for i in range(batch.num_rows):
            row = {}
            for name, column in zip(batch.schema.names, batch.columns):
                try:
                    row[name] = column[i].as_py()
                except (UnicodeDecodeError, pa.ArrowException):
                    row[name] = InvalidText()
            out.append(row)
        return out


class InvalidText:
    """A cell whose string is not valid UTF-8."""


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) \
        or pa.types.is_large_binary(t) or getattr(pa.types, "is_string_view", lambda _: False)(t)


class ParquetData(TableFile):
    def __init__(self, f: DataFile):
        self.rel = f.rel
        try:
            self.pf = pq.ParquetFile(f.path)
            self.schema = self.pf.schema_arrow
        except (OSError, pa.ArrowException) as exc:
            raise DataFileError(f"cannot read Parquet ({exc})") from exc

    def _plan_specs(self, chunk_bytes):
        md = self.pf.metadata
        start, groups, nbytes = 0, [], 0
        for i in range(md.num_row_groups):
            rg = md.row_group(i)
            groups.append(i)
            nbytes += rg.total_byte_size
            if nbytes >= chunk_bytes or i == md.num_row_groups - 1:
                yield {"row_groups": [groups[0], groups[-1] + 1], "first_row": start}, nbytes
                start += sum(md.row_group(g).num_rows for g in groups)
                groups, nbytes = [], 0

    def _batches(self, spec, columns):
        a, b = spec["row_groups"]
        first = spec["first_row"]
        try:
            for batch in self.pf.iter_batches(batch_size=BATCH_ROWS, row_groups=list(range(a, b)),
                                              columns=columns, use_threads=False):
                yield first, batch
                first += batch.num_rows
        except (OSError, pa.ArrowException) as exc:
            raise DataFileError(f"cannot read Parquet at row {first} ({exc})") from exc


class ArrowData(TableFile):
    """An Arrow IPC file or stream, memory-mapped: reading a column touches only its buffers."""

    lengths_are_cheap = True

    def __init__(self, f: DataFile):
        self.rel, self.path = f.rel, f.path
        try:
            with open(f.path, "rb") as fh:
                self.file_format = fh.read(6) == b"ARROW1"
            self.schema = self._open().schema
        except (OSError, pa.ArrowException) as exc:
            raise DataFileError(f"cannot read Arrow IPC ({exc})") from exc

    def _open(self):
        source = pa.memory_map(self.path)
        return pa.ipc.open_file(source) if self.file_format else pa.ipc.open_stream(source)

    def _all_batches(self) -> Iterator[pa.RecordBatch]:
        reader = self._open()
        if self.file_format:
            for i in range(reader.num_record_batches):
                yield reader.get_batch(i)
        else:
            yield from reader

    def _plan_specs(self, chunk_bytes):
        start = row = nbytes = 0
        first_batch = 0
        i = -1
        try:
            for i, batch in enumerate(self._all_batches()):
                row += batch.num_rows
                nbytes += batch.nbytes
                if nbytes >= chunk_bytes:
                    yield {"batches": [first_batch, i + 1], "first_row": start}, nbytes
                    start, first_batch, nbytes = row, i + 1, 0
        except (OSError, pa.ArrowException) as exc:
            raise DataFileError(f"cannot read Arrow IPC after row {row} ({exc})") from exc
        if first_batch <= i:
            yield {"batches": [first_batch, i + 1], "first_row": start}, nbytes

    def _batches(self, spec, columns):
        a, b = spec["batches"]
        first = spec["first_row"]
        try:
            for i, batch in enumerate(self._all_batches()):
                if i >= b:
                    break
                if i >= a:
                    yield first, batch.select(columns)
                    first += batch.num_rows
        except (OSError, pa.ArrowException) as exc:
            raise DataFileError(f"cannot read Arrow IPC at row {first} ({exc})") from exc


class JsonlData:
    """JSON lines (optionally gzip): one object per line; blank lines are no rows. Line numbers
    count from 1, as editors show them."""

    sniff_lines = 100

    def __init__(self, f: DataFile):
        self.rel, self.path = f.rel, f.path
        self.gzip = f.path.lower().endswith(".gz")
        self.first_object: dict | None = None
        try:
            with self._open() as fh:
                for _, raw in zip(range(self.sniff_lines), fh):
                    try:
                        value = json.loads(raw)
                    except ValueError:
                        continue
                    if isinstance(value, dict):
                        self.first_object = value
                        break
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise DataFileError(f"cannot read ({exc})") from exc

    def _open(self):
        return gzip.open(self.path, "rb") if self.gzip else open(self.path, "rb")

    def columns(self) -> list[str]:
        return list(self.first_object or {})

    def _lines(self, offset: int = 0, end: int | None = None, first_line: int = 1):
        """(line number, byte offset, raw line) from `offset` up to `end`."""
        line, pos = first_line, offset
        try:
            with self._open() as fh:
                fh.seek(offset)
                while end is None or pos < end:  # never a read past `end`: a file broken there reads up to it
                    raw = fh.readline()
                    if not raw:
                        return
                    yield line, pos, raw
                    pos += len(raw)
                    line += 1
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise DataFileError(f"cannot read at line {line} ({exc})") from exc

    def plan_chunks(self, repo_column: str | None, hint: SizeHint, chunk_bytes: int = CHUNK_BYTES
                    ) -> Iterator[PlanChunk]:
        spec: dict | None = None
        repos: list = []
        sizes: list[int] = []
        nbytes = last_end = 0
        try:
            for line, pos, raw in self._lines():
                if spec is None:
                    spec = {"offset": pos, "first_line": line}
                nbytes += len(raw)
                last_end = pos + len(raw)
                obj = parse_line(raw)
                if isinstance(obj, dict):
                    repos.append(repo_name(obj.get(repo_column)) if repo_column else None)
                    sizes.append(_object_size(obj, hint, len(raw)))
                elif raw.strip():
                    repos.append(None)
                    sizes.append(len(raw))
                if nbytes >= chunk_bytes:
                    yield PlanChunk({**spec, "end": last_end}, repos, sizes)
                    spec, repos, sizes, nbytes = None, [], [], 0
        except DataFileError:
            if spec is not None:  # the lines read before the break are rows; the caller names the break
                yield PlanChunk({**spec, "end": last_end}, repos, sizes)
            raise
        if spec is not None:
            yield PlanChunk({**spec, "end": None}, repos, sizes)

    def rows(self, spec: dict, columns: list[str], repo_column: str, select: Selection | None
             ) -> Iterator[tuple[int, dict | Exception]]:
        """(line number, object) of the chunk's lines that `select` picks (all if None); a line
        that is no JSON object comes as the exception saying why, with the lines of no repository."""
        for line, _, raw in self._lines(spec["offset"], spec.get("end"), spec["first_line"]):
            if not raw.strip():
                continue
            obj = parse_line(raw)
            if not isinstance(obj, dict):
                if select is None or select.invalid:
                    yield line, obj
                continue
            if select is None or select.picks(repo_name(obj.get(repo_column))):
                yield line, obj


def parse_line(raw: bytes) -> dict | Exception:
    """The line's JSON value, or the ValueError saying why it is none (never raises)."""
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return ValueError(f"not JSON ({exc})")
    if not isinstance(value, dict):
        return ValueError(f"a JSON {type(value).__name__}, not an object")
    return value


def _object_size(obj: dict, hint: SizeHint, fallback: int) -> int:
    value = obj.get(hint.column) if hint.column else None
    if isinstance(value, int) and not isinstance(value, bool):
        return max(value, 0)
    content = obj.get(hint.content) if hint.content else None
    if isinstance(content, str):
        return len(content)
    files = obj.get(hint.files) if hint.files else None
    if isinstance(files, list):
        return sum(len(f.get(hint.file_content) or "") for f in files
                   if isinstance(f, dict) and isinstance(f.get(hint.file_content), str))
    return fallback


def open_data_file(f: DataFile) -> TableFile | JsonlData:
    if f.container == "parquet":
        return ParquetData(f)
    if f.container == "arrow":
        return ArrowData(f)
    return JsonlData(f)


def file_fingerprint(path: str) -> dict | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
