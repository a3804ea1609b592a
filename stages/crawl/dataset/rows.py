"""One unit of a dataset SOURCE: its repositories' rows → `files` rows, each other row rejected
with its reason.

A unit reads the chunks its plan names, keeps the rows of its repositories (and, for the chunks
it owns, the rows of no repository, to reject them), and judges each file as crawl judges a file
on disk: its name (bytes-safe, repo-relative), its language (the dataset's label mapped to ours,
else by its path; a `.h` by content and repository), `--languages`, `--max-file-size`, binary
content, then duplicates of a path within a repository (the first in input order is kept). The
kept files of a repository are contiguous, in path order; repositories in first-appearance order.
"""

from __future__ import annotations

import codecs
import re
from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa

from stages.core.languages import (HEADER_CANDIDATES, OBJECTIVE_C, detect_language, header_languages,
                                   is_c_family_header)
from stages.core.schemas import FILES_SCHEMA_STARS
from stages.core.stage import Unit, UnitResult

from ..config import CrawlConfig
from ..names import escape_name, name_problem
from ..reader import blob_sha, safe_relpath
from .blobs import BlobProblem, BlobStore
from .containers import DataFileError, JsonlData, Selection, open_data_file
from .layouts import BadValue, Mapping, dataset_language, extract, repo_files

# Crawl's rejected rows, plus where the row came from: `FILE row N` (Parquet, Arrow: counted from
# 0) or `FILE:N` (JSON lines: line N, from 1), and ` file K` for a repository row's K-th file.
REJECTED_SCHEMA = pa.schema([("repo", pa.string()), ("path", pa.string()), ("lang", pa.string()),
                             ("size", pa.int64()), ("reason", pa.string()), ("source", pa.string())])

# Reasons that are also errors (errors.jsonl): what the user likely wants to know about.
ERROR_REASONS = frozenset({"malformed_row", "missing_value", "missing_column", "column_type", "not_utf8",
                           "binary", "unsafe_path", "undecodable_name", "control_character_in_name",
                           "missing_blob", "blob_mismatch", "unreadable", "unreadable_file"})
# At most this many errors per (file, reason, column) in one unit; the rest are counted in one line.
ERRORS_LISTED = 5
_HEX40 = re.compile(r"[0-9a-fA-F]{40}")


@dataclass
class _File:
    """A row that passed the per-file checks, waiting for its repository's."""

    seq: int
    row: dict
    header_by_path: bool  # a `.h` whose language came from its name: decided with its repository


@dataclass
class _Repo:
    files: list[_File] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)  # every safe path seen: headers are decided by them


class _Errors:
    def __init__(self):
        self.listed: list[dict] = []
        self.count: Counter = Counter()

    def add(self, rel: str, reason: str, column: str | None, item: str, message: str) -> None:
        key = (rel, reason, column)
        self.count[key] += 1
        if self.count[key] <= ERRORS_LISTED:
            self.listed.append({"item": item, "error": message})

    def all(self) -> list[dict]:
        more = [{"item": rel, "error": f"{n - ERRORS_LISTED:,} more rows with {reason}"
                 + (f" (`{column}`)" if column else "") + " not listed"}
                for (rel, reason, column), n in self.count.items() if n > ERRORS_LISTED]
        return self.listed + more


class DatasetUnit:
    def __init__(self, unit: Unit, config: CrawlConfig, blobs: str | None):
        head = unit.inputs[0]
        self.mapping = Mapping.from_json(head["mapping"])
        self.order = {name: i for i, name in enumerate(head["repos"])}
        self.chunks = [i for i in unit.inputs[1:] if i.get("kind") == "dataset_chunk"]
        self.config = config
        self.blobs = BlobStore(blobs) if blobs and self.mapping.blobs else None
        self.repos: dict[str, _Repo] = {}
        self.rejected: list[dict] = []
        self.errors = _Errors()
        self.counters: Counter = Counter()
        self.seq = 0

    # --- rows in ------------------------------------------------------------------------------

    def run(self) -> UnitResult:
        select = None
        names = frozenset(self.order)
        repo_column = self.mapping.column("repo")
        readers: dict[str, object] = {}
        for item in self.chunks:
            rel = item["rel"]
            try:
                reader = readers.get(item["path"]) or open_data_file(_DataFileRef(item))
                readers[item["path"]] = reader
            except DataFileError as exc:
                raise DataFileError(f"{rel}: {exc}") from exc  # planned readable: the unit fails, retried
            problem = item.get("problem")
            if problem:
                self._problem_chunk(reader, item, problem)
                continue
            select = Selection(names, invalid=item["owner"])
            columns = [c for c in self.mapping.read_columns() if c in reader.columns()] \
                if not isinstance(reader, JsonlData) else self.mapping.read_columns()
            self.counters["chunks_read"] += 1
            try:
                for n, row in reader.rows(item["chunk"], columns, repo_column, select):
                    self._row(rel, _label(rel, item["container"], n), row)
            except DataFileError as exc:
                raise DataFileError(f"{rel}: {exc}") from exc
        return self._result()

    def _problem_chunk(self, reader, item: dict, problem: dict) -> None:
        """A file without a column every row needs: each of its rows rejected, the file named once."""
        rel = item["rel"]
        if item.get("report"):
            self.errors.add(rel, "file:" + problem["reason"], None, rel, problem["message"])
        have = [c for c in (self.mapping.column("repo"), self.mapping.column("path")) if c]
        columns = have if isinstance(reader, JsonlData) else [c for c in have if c in reader.columns()]
        for n, row in reader.rows(item["chunk"], columns, None, None):
            values = row if isinstance(row, dict) else {}
            repo = values.get(self.mapping.column("repo") or "")
            path = values.get(self.mapping.column("path") or "")
            self._reject(repo if isinstance(repo, str) else None, path if isinstance(path, str) else None,
                         None, None, problem["reason"], _label(rel, item["container"], n))

    def _row(self, rel: str, label: str, row) -> None:
        if isinstance(row, Exception):  # a JSON line that is no object
            self._reject(None, None, None, None, "malformed_row", label)
            self.errors.add(rel, "malformed_row", None, label, str(row))
            return
        m = self.mapping
        if "files" in m.columns:
            self._repo_row(rel, label, row)
            return
        try:
            values = extract(row, m.columns, required=("repo", "path"))
        except BadValue as bad:
            self._bad(rel, label, row, bad)
            return
        self._file(rel, label, values)

    def _repo_row(self, rel: str, label: str, row: dict) -> None:
        m = self.mapping
        try:
            top = extract(row, m.columns, required=("repo",))
            files = repo_files(row, m)
        except BadValue as bad:
            self._bad(rel, label, row, bad)
            return
        if not files:
            self._reject(top["repo"], None, None, None, "empty_repository", label)
            return
        for k, f in enumerate(files):
            where = f"{label} file {k}"
            if not isinstance(f, dict):
                self._reject(top["repo"], None, None, None, "malformed_row", where)
                self.errors.add(rel, "malformed_row", m.columns["files"][0], where,
                                f"`{m.columns['files'][0]}` holds {type(f).__name__}, not a file record")
                continue
            try:
                values = extract(f, m.file_columns or {}, required=("path",))
            except BadValue as bad:
                self._bad(rel, where, {**f, **{c: row.get(c) for c in m.columns.get("repo", [])}}, bad,
                          repo=top["repo"])
                continue
            values["repo"] = top["repo"]
            for key in ("stars", "repo_created_at", "commit"):
                values[key] = top.get(key)
            values["license"] = top.get("license") or values.get("license")  # the host's, as crawl does
            self._file(rel, where, values)

    def _bad(self, rel: str, label: str, row: dict, bad: BadValue, repo: str | None = None) -> None:
        m = self.mapping
        if repo is None:
            value = next((row.get(c) for c in m.columns.get("repo", []) if isinstance(row.get(c), str)), None)
            repo = value or None
        cols = (m.file_columns or {}).get("path", []) if "files" in m.columns else m.columns.get("path", [])
        path = next((row.get(c) for c in cols if isinstance(row.get(c), str)), None)
        self._reject(repo, escape_name(path) if path else None, None, None, bad.reason, label)
        self.errors.add(rel, bad.reason, bad.column, label, bad.message)

    def _reject(self, repo, path, lang, size, reason: str, source: str, error: tuple | None = None) -> None:
        self.rejected.append({"repo": repo, "path": path, "lang": lang, "size": size, "reason": reason,
                              "source": source})
        self.counters[f"skipped:{reason}"] += 1

    # --- one file -----------------------------------------------------------------------------

    def _file(self, rel: str, label: str, v: dict) -> None:
        repo, path, cfg = v["repo"], v["path"], self.config
        if path.startswith("/"):  # The Stack v2: paths from the repository root, with a leading slash
            path = path.lstrip("/")
        size_hint = v.get("size")

        def reject(reason: str, lang=None, size=None, error: str | None = None) -> None:
            self._reject(repo, escape_name(path), lang, size, reason, label)
            if error:
                self.errors.add(rel, reason, None, label, f"{escape_name(repo)}/{escape_name(path)}: {error}")

        if v.get("is_vendor"):
            return reject("vendor", size=size_hint)
        if v.get("is_generated"):
            return reject("generated", size=size_hint)
        problem = name_problem(path) or (name_problem(repo) and "control_character_in_name")
        if problem:
            what = "is not valid UTF-8" if problem == "undecodable_name" else "holds control characters"
            return reject(problem, size=size_hint, error=f"the name {what}; not crawled")
        if not _plain_path(path) and safe_relpath(path) is None:
            return reject("unsafe_path", size=size_hint, error="path is absolute, empty or contains '..'")
        state = self.repos.setdefault(repo, _Repo())
        state.paths.append(path)
        label_lang, not_kept = dataset_language(v.get("lang"))
        if not_kept:
            return reject("language_not_kept", lang=v.get("lang"), size=size_hint)
        lang = label_lang or detect_language(path)
        if lang is None:
            return reject("unknown_language", size=size_hint)
        header_by_path = label_lang is None and is_c_family_header(path)
        selected = cfg.languages
        if selected is not None and (not selected & set(HEADER_CANDIDATES) if header_by_path else lang not in selected):
            return reject("language_not_selected", lang, size_hint)
        if size_hint is not None and size_hint > cfg.max_file_size:
            return reject("too_large", lang, size_hint)
        content, data = v.get("content"), None
        if content is None and self.blobs is not None and v.get("blob_id"):
            try:
                data = self.blobs.read(v["blob_id"], cfg.max_file_size)
            except BlobProblem as exc:
                return reject(exc.reason, lang, size_hint, error=exc.message or None)
            content = data
        if content is None:
            column = v.get("content:column") or "content"
            return reject("missing_value", lang, size_hint, error=f"`{column}` is null and no blob to read")
        if isinstance(content, bytes):
            data = content
            try:
                content = content.decode(_codec(v.get("encoding")))
            except (UnicodeDecodeError, LookupError) as exc:
                why = f"unknown encoding {v.get('encoding')!r}" if isinstance(exc, LookupError) else \
                    f"not {v.get('encoding') or 'UTF-8'} ({exc.reason} at byte {exc.start})"
                return reject("not_utf8", lang, len(data), error=why)
        try:
            encoded = content.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate, as a JSON escape (\\ud800) can make
            return reject("not_utf8", lang, None, error=f"not valid UTF-8 ({exc.reason} at character {exc.start})")
        del content
        if b"\0" in encoded:
            return reject("binary", lang, len(encoded), error="binary file (NUL bytes)")
        if len(encoded) > cfg.max_file_size:
            return reject("too_large", lang, len(encoded))
        sha = v.get("sha")
        if not (isinstance(sha, str) and _HEX40.fullmatch(sha)):
            sha = blob_sha(data if data is not None else encoded)
        self.seq += 1
        state.files.append(_File(self.seq, {
            # The content is kept as its UTF-8 bytes, not as a str: one compact copy, whatever the
            # characters, which becomes the Arrow column without another check.
            "repo": repo, "commit": v.get("commit"), "path": path, "lang": lang, "content": encoded,
            "size": len(encoded), "sha": sha.lower(), "license": v.get("license"),
            "repo_created_at": _plain_datetime(v.get("repo_created_at")), "stars": v.get("stars"),
            "_source": label}, header_by_path))

    # --- per repository, and out --------------------------------------------------------------

    def _result(self) -> UnitResult:
        kept: list[dict] = []
        for repo in sorted(self.repos, key=lambda r: self.order.get(r, len(self.order))):
            kept.extend(self._repository(repo, self.repos[repo]))
        self.counters["repos"] = sum(1 for r in self.repos.values() if r.files)
        for row in kept:
            self.counters[f"files:{row['lang']}"] += 1
            del row["_source"]
        table = pa.table({f.name: _column(kept, f) for f in FILES_SCHEMA_STARS}, schema=FILES_SCHEMA_STARS)
        rejected = pa.Table.from_pylist(self.rejected, schema=REJECTED_SCHEMA)
        return UnitResult(kept=table, rejected=rejected, rows_in=len(kept) + len(self.rejected),
                          bytes_in=sum(r["size"] for r in kept), counters=dict(self.counters),
                          errors=self.errors.all())

    def _repository(self, repo: str, state: _Repo) -> list[dict]:
        files = sorted(state.files, key=lambda f: (f.row["path"], f.seq))
        unique: list[_File] = []
        for f in files:
            if unique and unique[-1].row["path"] == f.row["path"]:
                self._reject(repo, f.row["path"], f.row["lang"], f.row["size"], "duplicate_path", f.row["_source"])
                continue
            unique.append(f)
        headers = {f.row["path"]: f.row["content"].decode() for f in unique if f.header_by_path}
        decided = header_languages(state.paths, headers) if headers else {}
        out = []
        selected = self.config.languages
        for f in unique:
            lang = decided.get(f.row["path"])
            if lang == OBJECTIVE_C:
                self._reject(repo, f.row["path"], lang, f.row["size"], "objective_c", f.row["_source"])
                continue
            if lang is not None and selected is not None and lang not in selected:
                self._reject(repo, f.row["path"], lang, f.row["size"], "language_not_selected", f.row["_source"])
                continue
            f.row["lang"] = lang or f.row["lang"]
            out.append(f.row)
        return out


@dataclass(frozen=True)
class _DataFileRef:
    """What open_data_file needs, from a chunk item of the manifest."""

    path: str
    rel: str
    container: str

    def __init__(self, item: dict):
        object.__setattr__(self, "path", item["path"])
        object.__setattr__(self, "rel", item["rel"])
        object.__setattr__(self, "container", item["container"])


def _column(rows: list[dict], f: pa.Field) -> pa.Array:
    values = [r[f.name] for r in rows]
    if f.name == "content":  # UTF-8 bytes, checked when they were encoded: a view as text, no copy
        return pa.array(values, pa.large_binary()).view(pa.large_string())
    return pa.array(values, f.type)


def _plain_path(path: str) -> bool:
    """What safe_relpath accepts, decided fast for the usual path: no empty, `.` or `..` part."""
    return bool(path) and "\\" not in path and "\0" not in path and not any(
        p in ("", ".", "..") for p in path.split("/"))


def _label(rel: str, container: str, n: int) -> str:
    return f"{rel}:{n}" if container == "jsonl" else f"{rel} row {n}"


def _codec(encoding) -> str:
    if not isinstance(encoding, str) or not encoding.strip():
        return "utf-8"
    return codecs.lookup(encoding.strip()).name


def _plain_datetime(value):
    to_py = getattr(value, "to_pydatetime", None)  # a pandas Timestamp (pyarrow's ns timestamps)
    return to_py() if to_py is not None else value


def process_dataset_unit(unit: Unit, config: CrawlConfig, blobs: str | None) -> UnitResult:
    return DatasetUnit(unit, config, blobs).run()

