"""The plan pass over a dataset SOURCE: repositories grouped into units of bounded size.

Rows of one repository may lie anywhere: unsorted, in several files. The plan reads each chunk's
repository column only (and a size hint: a size column, or content lengths where Arrow gives them
without decoding), numbers repositories in order of first appearance, and cuts that sequence into
units of about `--shard-size` bytes. A unit records its repositories and the chunks that hold
them; the plan holds one name and one size per repository and the list of repositories per chunk,
never file contents. A chunk's rows without a usable repository go to one unit, its *owner*, which
rejects them with their reasons.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from stages.core.errors import UsageError
from stages.core.stage import Unit
from stages.core.shards import shard_name

from . import containers
from .containers import (DataFile, DataFileError, JsonlData, SizeHint, TableFile, file_fingerprint, is_text_type,
                         list_data_files, open_data_file)
from .layouts import COLUMNS, LAYOUTS, Mapping, detect_layout, resolve_mapping


def _list_columns(reader) -> tuple[set[str], list[str] | None]:
    """(columns holding lists of records, the record fields of `files` when the schema says)."""
    if isinstance(reader, JsonlData):
        obj = reader.first_object or {}
        return {k for k, v in obj.items() if isinstance(v, list) and (not v or isinstance(v[0], dict))}, None
    out, fields = set(), None
    for f in reader.schema:
        t = f.type
        if (pa.types.is_list(t) or pa.types.is_large_list(t)) and pa.types.is_struct(t.value_type):
            out.add(f.name)
            if f.name == "files":
                fields = [t.value_type.field(i).name for i in range(t.value_type.num_fields)]
    return out, fields


def choose_mapping(files: list[DataFile], fmt: str, overrides: dict | None, blobs: str | None,
                   folder: bool = False) -> Mapping:
    """The layout of SOURCE (forced, or recognised by the columns of its first readable data file),
    resolved against the columns its data files have (any of them: a column some files lack is
    null in theirs); a usage error when it cannot be, naming the file and the columns."""
    seen = []  # (file, columns, list-of-record columns, the record fields of `files`)
    unread = []  # why a file gives no columns (also reported by the plan pass, when others do)
    for f in files:
        try:
            reader = open_data_file(f)
        except DataFileError as exc:
            unread.append(f"{f.rel}: {exc}")
            continue
        if isinstance(reader, JsonlData) and reader.first_object is None:
            unread.append(f"{f.rel}: no JSON object in its first {reader.sniff_lines} lines (read as JSON lines, "
                          "one object per line; a JSON array is not)")
            continue
        lists, file_fields = _list_columns(reader)
        if file_fields is None and "files" in lists and isinstance(reader, TableFile):
            file_fields = []
        seen.append((f, reader.columns(), lists, file_fields))
    if not seen:
        raise UsageError("SOURCE: no data file could be read"
                         + (f": {'; '.join(unread[:3])}{f'; and {len(unread) - 3} more' if len(unread) > 3 else ''}"
                            if unread else ""))
    first, first_names, first_lists, _ = seen[0]
    names = list(dict.fromkeys(n for _, cols, _, _ in seen for n in cols))
    lists = set().union(*(s[2] for s in seen))
    known = [s[3] for s in seen if s[3] is not None]
    file_fields = list(dict.fromkeys(x for ff in known for x in ff)) if known else None
    where = first.rel if len(seen) == 1 else f"the data files of SOURCE ({first.rel} …)"
    if fmt != "auto":
        layout = LAYOUTS[fmt]
    else:
        layout = detect_layout(first_names, first_lists) or (COLUMNS if overrides else None)
    if layout is None:
        raise UsageError(f"SOURCE: cannot tell the layout of {first.rel} from its columns ({', '.join(first_names)}); "
                         f"pass --format ({', '.join(n for n in LAYOUTS if n != 'columns')}) or "
                         "--columns content=COLUMN,repo=COLUMN,path=COLUMN (docs/crawl.md#datasets)"
                         + ("; or --format repos, if SOURCE is a folder of repositories" if folder else ""))
    mapping, missing = resolve_mapping(layout, names, overrides, file_fields)
    _check_overrides(where, names, file_fields, overrides)
    if missing:
        raise UsageError(f"SOURCE: {where} ({layout.title}) has no column for {'; '.join(missing)} "
                         f"(columns: {', '.join(names)}); name it with --columns FIELD=COLUMN")
    fields = (mapping.file_columns or {}) if "files" in mapping.columns else mapping.columns
    content_mapped, blob_mapped = "content" in fields, "blob_id" in fields
    if not content_mapped and blob_mapped and not blobs:
        raise UsageError(f"SOURCE: {where} holds no file contents, only blob ids ({layout.title}): "
                         "pass --blobs DIR, the folder of contents named by blob id (docs/crawl.md#datasets)")
    mapping.blobs = bool(blobs) and blob_mapped
    return mapping


def _check_overrides(where: str, names: list[str], file_fields: list[str] | None, overrides: dict | None) -> None:
    for key, column in (overrides or {}).items():
        if key.startswith("files."):
            if file_fields is not None and column not in file_fields:
                raise UsageError(f"--columns {key}={column}: the files in {where} have no field `{column}` "
                                 f"(fields: {', '.join(file_fields)})")
        elif column not in names:
            raise UsageError(f"--columns {key}={column}: no column `{column}` in {where} "
                             f"(columns: {', '.join(names)})")


def size_hint(mapping: Mapping) -> SizeHint:
    cols = mapping.columns
    if "files" in cols:
        fc = mapping.file_columns or {}
        return SizeHint(files=cols["files"][0], file_content=(fc.get("content") or [None])[0])
    return SizeHint(column=(cols.get("size") or [None])[0], content=(cols.get("content") or [None])[0])


def _file_problem(reader, mapping: Mapping) -> dict | None:
    """Why a file cannot give rows under the mapping (a required column missing or not text)."""
    names = set(reader.columns())
    required = [("repo",), ("files",)] if "files" in mapping.columns else \
        [("repo",), ("path",), ("content", "blob_id")]
    for alternatives in required:
        cols = [c for f in alternatives for c in mapping.columns.get(f, [])]
        if cols and not any(c in names for c in cols):
            shown = " or ".join(f"`{c}`" for c in cols)
            return {"reason": "missing_column", "column": cols[0],
                    "message": f"no column {shown} (columns: {', '.join(reader.columns()) or 'none'})"}
    repo = mapping.column("repo")
    if isinstance(reader, TableFile) and not is_text_type(reader.schema.field(repo).type):
        return {"reason": "column_type", "column": repo,
                "message": f"column `{repo}` is {reader.schema.field(repo).type}, not a string"}
    return None


class _Repos:
    """Repositories in order of first appearance: a name and a byte count each."""

    def __init__(self):
        self.ids: dict[str, int] = {}
        self.sizes = array("q")

    def add_chunk(self, repos: list, sizes: list[int]) -> array:
        local: dict[str, int] = {}
        for name, size in zip(repos, sizes):
            if name is not None:
                local[name] = local.get(name, 0) + int(size)
        out = array("l")
        for name, size in local.items():
            i = self.ids.get(name)
            if i is None:
                i = self.ids[name] = len(self.sizes)
                self.sizes.append(0)
            self.sizes[i] += size
            out.append(i)
        return out


def plan_dataset(source: Path, fmt: str, overrides: dict | None, blobs: str | None, shard_size: int,
                 log: Callable[[str], None] = lambda _: None) -> tuple[list[Unit], list[dict]]:
    """(the units, the plan's errors: files that cannot be read)."""
    files, ignored = _listing(source)
    if not files:
        raise UsageError(f"SOURCE {source} holds no data files (.parquet, .jsonl, .json, .arrow)")
    if blobs is not None and not Path(blobs).is_dir():
        raise UsageError(f"--blobs {blobs} is not a folder")
    mapping = choose_mapping(files, fmt, overrides, blobs, folder=source.is_dir())
    repo_column = mapping.column("repo")
    hint = size_hint(mapping)
    chunk_bytes = max(1, min(containers.CHUNK_BYTES, shard_size // 8))
    repos = _Repos()
    chunks: list[dict] = []  # {"file", "spec", "repos": array of ids, "bytes", "problem", "report"}
    errors: list[dict] = []
    rows = 0
    for f in files:
        try:
            reader = open_data_file(f)
        except DataFileError as exc:
            errors.append({"item": f.rel, "error": str(exc)})
            continue
        # JSON lines have no schema: a key missing from a line is that line's problem.
        problem = _file_problem(reader, mapping) if isinstance(reader, TableFile) else None
        if problem is None and isinstance(reader, TableFile):
            absent = [c for fld, cols in mapping.columns.items() if not any(c in reader.columns() for c in cols)
                      for c in cols[:1]]
            if absent:
                errors.append({"item": f.rel, "error": f"no column {', '.join(f'`{c}`' for c in absent)}: "
                                                       "left null in this file's rows"})
        first = True
        try:
            for chunk in reader.plan_chunks(None if problem else repo_column, hint, chunk_bytes):
                ids = repos.add_chunk(chunk.repos, chunk.sizes)
                chunks.append({"file": f, "spec": chunk.spec, "repos": ids, "bytes": sum(chunk.sizes),
                               "problem": problem, "report": first and problem is not None})
                rows += len(chunk.repos)
                first = False
        except DataFileError as exc:
            errors.append({"item": f.rel, "error": f"{exc}; the rest of this file is not read"})
    if not chunks:
        return [], errors
    units = _units(repos, chunks, mapping, shard_size, files)
    read = sum(c["bytes"] for u in units for c in u[1])
    total = sum(c["bytes"] for c in chunks) or 1
    log(f"dataset: {len(files):,} data files ({mapping.layout}), {rows:,} rows, {len(repos.ids):,} repositories "
        f"-> {len(units)} units; each chunk read {read / total:.2f}x on average"
        + (f"; {len(ignored):,} other files not read ({', '.join(ignored[:3])}{', …' if len(ignored) > 3 else ''})"
           if ignored else ""))
    if read / total > 2:
        log("dataset: repositories are spread over the input (not grouped): units re-read shared chunks; "
            "a SOURCE sorted by repository reads each chunk about once (docs/crawl.md#datasets)")
    return [Unit(shard_name(i), items) for i, (items, _) in enumerate(units)], errors


def _listing(source: Path) -> tuple[list[DataFile], list[str]]:
    try:
        return list_data_files(source)
    except DataFileError as exc:
        raise UsageError(f"SOURCE: {exc}") from exc


def _units(repos: _Repos, chunks: list[dict], mapping: Mapping, shard_size: int,
           files: list[DataFile]) -> list[tuple[list[dict], list[dict]]]:
    """[(unit inputs, its chunks)]: repositories in first-appearance order, cut at `shard_size`."""
    n = len(repos.sizes)
    unit_of = array("l", [0]) * n
    cuts, size, u = [0], 0, 0
    for i in range(n):
        unit_of[i] = u
        size += repos.sizes[i]
        if size >= shard_size and i < n - 1:
            u, size = u + 1, 0
            cuts.append(i + 1)
    cuts.append(n)
    n_units = max(u + 1, 1)
    members: list[list[int]] = [[] for _ in range(n_units)]  # chunk indices per unit
    owner = 0
    for k, chunk in enumerate(chunks):
        if len(chunk["repos"]):
            owner = unit_of[chunk["repos"][0]]
        chunk["owner"] = owner
        seen = set()
        for r in chunk["repos"]:
            seen.add(unit_of[r])
        seen.add(owner)
        for unit in sorted(seen):
            members[unit].append(k)
    names = list(repos.ids)
    out = []
    for unit in range(n_units):
        unit_repos = names[cuts[unit]:cuts[unit + 1]] if unit + 1 < len(cuts) else []
        head = {"kind": "dataset", "mapping": mapping.to_json(), "repos": unit_repos,
                "size": int(sum(repos.sizes[cuts[unit]:cuts[unit + 1]])) if unit + 1 < len(cuts) else 0}
        if unit == 0:  # what check_units compares on a re-run
            head["source_files"] = [{"path": f.path, **(file_fingerprint(f.path) or {})} for f in files]
        items = [head]
        for k in members[unit]:
            c = chunks[k]
            f = c["file"]
            items.append({"kind": "dataset_chunk", "path": f.path, "rel": f.rel, "container": f.container,
                          "chunk": c["spec"], "owner": c["owner"] == unit,
                          **({"problem": c["problem"], "report": c["report"]} if c["problem"] else {})})
        out.append((items, [chunks[k] for k in members[unit]]))
    return out


def dataset_changes(units: list[Unit], source: Path) -> list[str]:
    """What differs between the data files recorded in the manifest and those in SOURCE now."""
    then = {f["path"]: f for u in units[:1] for i in u.inputs if i.get("kind") == "dataset"
            for f in i.get("source_files", [])}
    files, _ = _listing(source)
    now = {f.path: {"path": f.path, **(file_fingerprint(f.path) or {})} for f in files}
    changes = []
    for path in now:
        if path not in then:
            changes.append(f"`{path}` added")
    for path, old in then.items():
        if path not in now:
            changes.append(f"`{path}` removed")
        elif old != now[path]:
            changes.append(f"`{path}` changed ({old.get('size', 0):,} bytes then, {now[path].get('size', 0):,} now)")
    return changes
