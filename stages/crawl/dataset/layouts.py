"""Dataset layouts: which columns hold a file's repository, path, content and metadata.

A layout maps each field of the `files` schema (plus `stars`, and what a dataset needs to find or
judge a file: `blob_id`, `is_vendor`, `is_generated`, `encoding`, `size`) to the dataset's column
names, preferred first: a row's value is the first of them that is present and not null. `auto`
recognises a layout by the columns of SOURCE's first data file; `--format` forces one and
`--columns field=column,…` replaces single entries (the `columns` layout starts from none).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from functools import lru_cache

from stages.core.languages import resolve_languages

from .containers import InvalidText

# field -> what it is (docs/crawl.md#datasets); `files` and `files.FIELD` only for repository rows.
FIELDS = {
    "repo": "repository name", "path": "repo-relative path", "content": "file text",
    "lang": "language (the dataset's name for it)", "license": "SPDX id or a list of them",
    "stars": "the repository's star count", "repo_created_at": "the repository's creation time",
    "commit": "commit id", "sha": "git blob id", "size": "bytes (a hint for sizing units)",
    "blob_id": "content id in the --blobs folder", "is_vendor": "vendored file (rejected)",
    "is_generated": "generated file (rejected)", "encoding": "the content's text encoding",
    "files": "a repository row's list of files",
}
FILE_FIELDS = ("path", "content", "lang", "license", "sha", "size", "blob_id", "is_vendor", "is_generated",
               "encoding")


@dataclass(frozen=True)
class Layout:
    name: str
    title: str
    columns: dict[str, tuple[str, ...]]
    # Each entry: fields of which one must be mapped (content or blob_id).
    required: tuple[tuple[str, ...], ...] = (("repo",), ("path",), ("content", "blob_id"))
    file_columns: dict[str, tuple[str, ...]] | None = None  # repository rows: each file's fields


STACK_V1 = Layout("stack-v1", "The Stack v1", {
    "repo": ("max_stars_repo_name",), "path": ("max_stars_repo_path",), "content": ("content",),
    "lang": ("lang",), "license": ("max_stars_repo_licenses",), "stars": ("max_stars_count",),
    "commit": ("max_stars_repo_head_hexsha",), "sha": ("hexsha",), "size": ("size",),
}, required=(("repo",), ("path",), ("content",)))

STACK_V2 = Layout("stack-v2", "The Stack v2 metadata (contents from --blobs, or inline)", {
    "repo": ("repo_name",), "path": ("path",), "content": ("content",), "blob_id": ("blob_id",),
    "lang": ("language",), "license": ("gha_license_id", "detected_licenses"),
    "stars": ("star_events_count",), "repo_created_at": ("gha_created_at",), "commit": ("revision_id",),
    "sha": ("blob_id",), "size": ("length_bytes",), "is_vendor": ("is_vendor",),
    "is_generated": ("is_generated",), "encoding": ("src_encoding",),
})

REPO_ROWS = Layout("repo-rows", "one row per repository with its files (The Stack v3 style)", {
    "repo": ("repo_name", "repo", "full_name"), "files": ("files",),
    "stars": ("star_events_count", "stars", "stargazers_count", "max_stars_count"),
    "license": ("gha_license_id", "license", "licenses", "detected_licenses"),
    "repo_created_at": ("gha_created_at", "repo_created_at", "created_at"),
    "commit": ("revision_id", "commit", "head_hexsha"),
}, required=(("repo",), ("files",)), file_columns={
    "path": ("path", "file_path", "filepath"), "content": ("content", "text", "code"),
    "lang": ("language", "lang"), "license": ("detected_licenses", "license", "licenses"),
    "sha": ("blob_id", "sha", "hexsha"), "size": ("length_bytes", "size"), "blob_id": ("blob_id",),
    "is_vendor": ("is_vendor",), "is_generated": ("is_generated",), "encoding": ("src_encoding", "encoding"),
})

FILES = Layout("files", "dscoder's `files` schema (repo, path, content, …)", {
    name: (name,) for name in ("repo", "path", "content", "lang", "license", "stars", "repo_created_at",
                               "commit", "sha", "size")
}, required=(("repo",), ("path",), ("content",)))

COLUMNS = Layout("columns", "any table, through --columns", {})

LAYOUTS = {layout.name: layout for layout in (STACK_V1, STACK_V2, REPO_ROWS, FILES, COLUMNS)}


def detect_layout(names: list[str], list_columns: set[str]) -> Layout | None:
    """The layout a file's column names show (`list_columns`: those holding lists of records)."""
    have = set(names)
    if "files" in list_columns and have & set(REPO_ROWS.columns["repo"]):
        return REPO_ROWS
    if {"max_stars_repo_name", "max_stars_repo_path", "content"} <= have:
        return STACK_V1
    if {"repo_name", "path", "blob_id"} <= have:
        return STACK_V2
    if {"repo", "path", "content"} <= have:
        return FILES
    return None


@dataclass
class Mapping:
    """A layout resolved against SOURCE's columns: recorded in every unit, read by every unit."""

    layout: str
    columns: dict[str, list[str]]
    file_columns: dict[str, list[str]] | None = None
    blobs: bool = field(default=False)  # content comes from the --blobs folder by blob_id

    def to_json(self) -> dict:
        return {"layout": self.layout, "columns": self.columns, "file_columns": self.file_columns,
                "blobs": self.blobs}

    @classmethod
    def from_json(cls, obj: dict) -> "Mapping":
        return cls(obj["layout"], obj["columns"], obj.get("file_columns"), obj.get("blobs", False))

    def read_columns(self) -> list[str]:
        """The dataset columns a unit reads, in a fixed order."""
        return sorted({c for cols in self.columns.values() for c in cols})

    def column(self, name: str) -> str | None:
        cols = self.columns.get(name)
        return cols[0] if cols else None


def resolve_mapping(layout: Layout, names: list[str], overrides: dict[str, str] | None,
                    file_names: list[str] | None = None) -> tuple[Mapping, list[str]]:
    """(the mapping, the required fields it cannot fill). `names`: the first file's columns;
    `file_names`: the fields of its repository rows' files, when known (Parquet, Arrow)."""
    overrides = overrides or {}
    have = set(names)
    inner = None if file_names is None else set(file_names)
    columns = {f: [c for c in cands if c in have] for f, cands in layout.columns.items()}
    file_cols = None
    if layout.file_columns is not None or "files" in overrides:
        file_cols = {f: [c for c in cands if inner is None or c in inner]
                     for f, cands in (layout.file_columns or REPO_ROWS.file_columns).items()}
    for key, column in overrides.items():
        if key.startswith("files."):
            if file_cols is None:
                file_cols = {f: [c for c in cands if inner is None or c in inner]
                             for f, cands in REPO_ROWS.file_columns.items()}
            file_cols[key[len("files."):]] = [column]
        else:
            columns[key] = [column]
    columns = {f: c for f, c in columns.items() if c}
    missing = []
    required = layout.required
    if "files" in columns:  # repository rows: a repository and its files; a path and content per file
        required = (("repo",), ("files",))
        file_cols = {f: c for f, c in (file_cols or {}).items() if c}
        for alternatives in (("path",), ("content", "blob_id")):
            if not any(f in file_cols for f in alternatives):
                missing.append(" or ".join(f"files.{f}" for f in alternatives))
    else:
        file_cols = None
    missing = [" or ".join(alt) for alt in required if not any(f in columns for f in alt)] + missing
    return Mapping(layout.name, columns, file_cols), missing


def parse_columns(value) -> dict[str, str] | None:
    """`content=text, repo=repo_name` -> {"content": "text", "repo": "repo_name"}."""
    if value is None or isinstance(value, dict):
        return value
    out: dict[str, str] = {}
    for part in (p.strip() for p in str(value).split(",")):
        if not part:
            continue
        key, eq, column = part.partition("=")
        key, column = key.strip(), column.strip()
        if not eq or not key or not column:
            raise ValueError(f"{part!r}: expected FIELD=COLUMN, e.g. content=text")
        inner = key[len("files."):] if key.startswith("files.") else None
        if (inner is None and key not in FIELDS) or (inner is not None and inner not in FILE_FIELDS):
            raise ValueError(f"unknown field {key!r}; fields: {', '.join(FIELDS)} "
                             f"(and files.FIELD for a repository row's files: {', '.join(FILE_FIELDS)})")
        if key in out:
            raise ValueError(f"{key} given twice")
        out[key] = column
    return out or None


# --- values -----------------------------------------------------------------------------------


class BadValue(Exception):
    """A row (or a repository row's file) that cannot become a `files` row: reason, column, why."""

    def __init__(self, reason: str, column: str, message: str):
        super().__init__(message)
        self.reason, self.column, self.message = reason, column, message


def _type(v) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "a boolean", list: "a list",
            dict: "an object", bytes: "bytes"}.get(type(v), type(v).__name__)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _text(v, column: str):
    if v is None or (isinstance(v, str) and (v.isascii() or not _SURROGATE.search(v))):
        return v
    if isinstance(v, str):  # a lone surrogate (a JSON \\ud800 escape): no UTF-8 text
        raise BadValue("malformed_row", column, f"`{column}` holds a lone surrogate, not valid UTF-8")
    if isinstance(v, InvalidText):
        raise BadValue("not_utf8", column, f"`{column}` is not valid UTF-8")
    raise BadValue("malformed_row", column, f"`{column}` is {_type(v)}, not a string")


def _content(v, column: str):
    if isinstance(v, (bytes, bytearray)):
        return bytes(v)  # decoded later, with the row's encoding
    if v is None or isinstance(v, str):
        return v  # a lone surrogate is found when the unit encodes it (not_utf8)
    return _text(v, column)


_NO_LICENSE = frozenset({"", "NOASSERTION", "NONE"})


def _license(v, column: str) -> str | None:
    """An SPDX id; a list of them (The Stack's detected licences) joined as an SPDX expression
    with AND (each applies), one id alone as itself; GitHub's NOASSERTION is none."""
    if v is None:
        return None
    items = v if isinstance(v, (list, tuple)) else [v]
    ids: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise BadValue("malformed_row", column, f"`{column}` holds {_type(item)}, not an SPDX id")
        item = item.strip()
        if item.upper() not in _NO_LICENSE and item not in ids:
            ids.append(item)
    return " AND ".join(ids) if ids else None


def _count(v, column: str) -> int | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):  # The Stack v1: NaN for no stars
        return None
    if isinstance(v, bool):
        raise BadValue("malformed_row", column, f"`{column}` is a boolean, not a count")
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and v.strip().isdigit():
        return int(v)
    raise BadValue("malformed_row", column, f"`{column}` is {_type(v)} ({v!r:.40}), not a count")


def _time(v, column: str) -> datetime | None:
    if v is None:
        return None
    if isinstance(v, datetime):
        return v.replace(tzinfo=timezone.utc) if v.tzinfo is None else v.astimezone(timezone.utc)
    if isinstance(v, date):
        return datetime(v.year, v.month, v.day, tzinfo=timezone.utc)
    if isinstance(v, str) and v.strip():
        try:
            return _time(datetime.fromisoformat(v.strip().replace("Z", "+00:00")), column)
        except ValueError:
            pass
    raise BadValue("malformed_row", column, f"`{column}` is {_type(v)} ({v!r:.40}), not a date and time")


def _flag(v, column: str) -> bool:
    if v is None:
        return False
    if isinstance(v, bool):
        return v
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    raise BadValue("malformed_row", column, f"`{column}` is {_type(v)} ({v!r:.40}), not true or false")


CONVERT = {"repo": _text, "path": _text, "content": _content, "lang": lambda v, c: v if isinstance(v, str) else None,
           "license": _license, "stars": _count, "repo_created_at": _time, "commit": _text, "sha": _text,
           "size": _count, "blob_id": _text, "is_vendor": _flag, "is_generated": _flag, "encoding": _text}


def _present(v) -> bool:
    return v is not None and v != "" and v != [] and not (isinstance(v, float) and math.isnan(v))


def _not_none(v) -> bool:
    return v is not None


def extract(row: dict, columns: dict[str, list[str]], required: tuple[str, ...] = ()) -> dict:
    """{field: value} of one row (or one file of a repository row); raises BadValue. A field is the
    first of its columns that holds a value; `required` fields must have one."""
    out = {}
    for name, cols in columns.items():
        if name == "files":
            continue
        column, value = cols[0], None
        present = _present if name != "content" else _not_none  # an empty file is a file
        for c in cols:
            if present(row.get(c)):
                column, value = c, row[c]
                break
        if name in required and not present(value):
            state = "null or empty" if any(c in row for c in cols) else "missing"
            raise BadValue("missing_value", column, f"`{column}` is {state}")
        out[name] = CONVERT[name](value, column)
        out[f"{name}:column"] = column
    return out


def repo_files(row: dict, mapping: Mapping) -> list:
    """A repository row's files (each a dict); raises BadValue when `files` is not a list."""
    column = mapping.columns["files"][0]
    files = row.get(column)
    if files is None:
        return []
    if not isinstance(files, list):
        raise BadValue("malformed_row", column, f"`{column}` is {_type(files)}, not a list of files")
    return files


# --- languages --------------------------------------------------------------------------------

# Languages of other datasets that are not among ours but share our extensions (`.h`, `.m`, `.v`,
# `.cl`, `.pl` …): a file the dataset labels so is not kept, rather than relabelled by its path
# (a Coq `.v` is no Verilog). Any other unknown label: the language of the path decides.
NOT_KEPT = frozenset({"objective-c", "objective-c++", "objective-j", "coq", "opencl", "mercury", "limbo", "m",
                      "raku", "perl 6", "perl6", "filterscript", "renderscript", "puppet", "turing", "vba", "gap"})


@lru_cache(maxsize=4096)
def dataset_language(label: str | None) -> tuple[str | None, bool]:
    """(our language for a dataset's label or None, whether the label names a language we do not
    keep)."""
    if not label or not label.strip():
        return None, False
    if label.strip().lower() in NOT_KEPT:
        return None, True
    try:
        (lang,) = resolve_languages([label])
    except ValueError:
        return None, False
    return lang, False
