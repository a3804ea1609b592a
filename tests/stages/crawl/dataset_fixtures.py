"""Small datasets in the layouts users hold, built in code: The Stack v1 Parquet, The Stack v2
metadata with a blobs folder, repository rows (The Stack v3 style), JSON lines read through
--columns, and folders in the layout HF `datasets` writes with `save_to_disk`.

Every layout holds the same corpus (CORPUS), its rows shuffled so that repositories are neither
sorted nor contiguous, and each repository split over two input files.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

UTC = timezone.utc
WORDS = ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "lambda_", "theta", "zeta", "rho", "tau"]


def python_module(seed: int, imports: tuple[str, ...] = ()) -> str:
    rng = random.Random(seed)
    lines = [f"import {m}" for m in imports] + [""]
    for i in range(rng.randint(6, 12)):
        a, b = rng.sample(WORDS, 2)
        lines += [f"def {a}_{seed}_{i}({b}, count={i}):",
                  f"    \"\"\"Return {a} combined with {b} for step {i}.\"\"\"",
                  f"    return {b} * count + {rng.randint(1, 99)}", ""]
    return "\n".join(lines)


def c_source(seed: int, header: str | None = None) -> str:
    rng = random.Random(seed)
    lines = [f'#include "{header}"' if header else "#include <stdio.h>", ""]
    for i in range(rng.randint(4, 8)):
        a = rng.choice(WORDS)
        lines += [f"int {a}_{seed}_{i}(int value) {{", f"    return value * {rng.randint(2, 50)} + {i};", "}", ""]
    return "\n".join(lines)


def js_source(seed: int) -> str:
    rng = random.Random(seed)
    return "\n".join(f"function {rng.choice(WORDS)}{seed}x{i}(items) {{ return items.map(x => x + {i}); }}"
                     for i in range(rng.randint(5, 9))) + "\n"


REPOS = {
    "acme/app": {"stars": 120, "license": "MIT", "created": datetime(2019, 5, 1, 12, 0, tzinfo=UTC), "files": {
        "app/main.py": python_module(1, ("app.util",)),
        "app/util.py": python_module(2),
        "web/index.js": js_source(3),
        "include/api.h": "#ifndef API_H\n#define API_H\nint api_version(void);\nint api_call(int value);\n#endif\n",
        "src/api.c": c_source(4, "api.h"),
    }},
    "acme/lib": {"stars": 7, "license": "Apache-2.0", "created": datetime(2021, 1, 2, tzinfo=UTC), "files": {
        "lib/core.py": python_module(5),
        "lib/helpers.py": python_module(6, ("lib.core",)),
        "README.md": "# lib\n\nHelpers for the core module, with examples and a short description of each.\n",
    }},
    "solo/tool": {"stars": None, "license": None, "created": None, "files": {
        "tool.c": c_source(7),
    }},
}
LANG = {".py": "Python", ".js": "JavaScript", ".h": "C", ".c": "C", ".md": "Markdown"}


def lang_of(path: str) -> str:
    return LANG[path[path.rindex("."):]]


def git_sha(text: str) -> str:
    data = text.encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def corpus(seed: int = 0) -> list[dict]:
    """Every file once, in a shuffled order: repositories interleaved."""
    rows = [{"repo": repo, "path": path, "content": content, "stars": meta["stars"], "license": meta["license"],
             "created": meta["created"]} for repo, meta in REPOS.items() for path, content in meta["files"].items()]
    random.Random(seed).shuffle(rows)
    return rows


CORPUS = corpus()


def first_appearance() -> list[str]:
    return list(dict.fromkeys(r["repo"] for r in CORPUS))


def halves(rows: list) -> tuple[list, list]:
    """Two input files; each repository with files in both."""
    return rows[0::2], rows[1::2]


def expected_files() -> dict[tuple[str, str], dict]:
    return {(r["repo"], r["path"]): r for r in CORPUS}


# --- The Stack v1 -----------------------------------------------------------------------------

def stack_v1_row(r: dict) -> dict:
    data = r["content"].encode()
    return {"hexsha": git_sha(r["content"]), "size": len(data), "ext": r["path"].rsplit(".", 1)[-1],
            "lang": lang_of(r["path"]), "max_stars_repo_path": r["path"], "max_stars_repo_name": r["repo"],
            "max_stars_repo_head_hexsha": "ab" * 20, "max_stars_repo_licenses": [r["license"]] if r["license"] else [],
            "max_stars_count": float(r["stars"]) if r["stars"] is not None else float("nan"),
            "content": r["content"], "avg_line_length": 20.0, "alphanum_fraction": 0.7}


def write_stack_v1(folder: Path, rows: list[dict] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    a, b = halves(rows if rows is not None else CORPUS)
    # The Stack's own file names and folder tree; row groups of 2 rows
    (folder / "data/python").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist([stack_v1_row(r) for r in a]), folder / "data/python/train-00000-of-00002.parquet",
                   row_group_size=2)
    pq.write_table(pa.Table.from_pylist([stack_v1_row(r) for r in b]), folder / "data/python/train-00001-of-00002.parquet",
                   row_group_size=2)
    (folder / "README.md").write_text("---\nlicense: other\n---\n# a small Stack\n")
    return folder


# --- The Stack v2 metadata + blobs ----------------------------------------------------------

def stack_v2_row(r: dict, **extra) -> dict:
    sha = git_sha(r["content"])
    row = {"blob_id": sha, "directory_id": "d" * 40, "path": "/" + r["path"], "content_id": "c" * 40,
           "detected_licenses": [r["license"]] if r["license"] else [],
           "license_type": "permissive" if r["license"] else "no_license", "repo_name": r["repo"],
           "snapshot_id": "s" * 40, "revision_id": "ab" * 20, "branch_name": "refs/heads/main",
           "visit_date": datetime(2023, 9, 1, tzinfo=UTC), "github_id": 1, "star_events_count": r["stars"] or 0,
           "fork_events_count": 0, "gha_license_id": r["license"], "gha_created_at": r["created"],
           "gha_language": "Python", "src_encoding": "UTF-8", "language": lang_of(r["path"]), "is_vendor": False,
           "is_generated": False, "length_bytes": len(r["content"].encode()), "extension": r["path"].rsplit(".", 1)[-1]}
    row.update(extra)
    return row


def write_blob(blobs: Path, data: bytes, style: int) -> str:
    sha = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    if style % 3 == 0:  # as Software Heritage serves them: gzip, named by id
        (blobs / sha).write_bytes(gzip.compress(data))
    elif style % 3 == 1:
        (blobs / f"{sha}.gz").write_bytes(gzip.compress(data))
    else:  # git-style fan-out, uncompressed
        (blobs / sha[:2]).mkdir(exist_ok=True)
        (blobs / sha[:2] / sha).write_bytes(data)
    return sha


V2_SCHEMA_TYPES = {"gha_created_at": pa.timestamp("us", tz="UTC"), "visit_date": pa.timestamp("us", tz="UTC")}


def write_stack_v2(folder: Path, extra_rows: list[dict] = ()) -> tuple[Path, Path]:
    """(metadata folder, blobs folder); `extra_rows` appended to the second file."""
    meta, blobs = folder / "meta", folder / "blobs"
    meta.mkdir(parents=True, exist_ok=True)
    blobs.mkdir(parents=True, exist_ok=True)
    for i, r in enumerate(CORPUS):
        write_blob(blobs, r["content"].encode(), i)
    a, b = halves(CORPUS)
    for name, part in (("Python/train-00000.parquet", [stack_v2_row(r) for r in a]),
                       ("Python/train-00001.parquet", [stack_v2_row(r) for r in b] + list(extra_rows))):
        (meta / name).parent.mkdir(parents=True, exist_ok=True)
        t = pa.Table.from_pylist(part)
        for col, typ in V2_SCHEMA_TYPES.items():
            t = t.set_column(t.column_names.index(col), col, t[col].cast(typ))
        pq.write_table(t, meta / name, row_group_size=3)
    return meta, blobs


# --- repository rows (The Stack v3 style) -----------------------------------------------------

def write_repo_rows(folder: Path) -> Path:
    """One row per repository and input file: each repository's files split over two files."""
    folder.mkdir(parents=True, exist_ok=True)
    for part, rows in enumerate(halves(CORPUS)):
        by_repo: dict[str, list[dict]] = {}
        for r in rows:
            by_repo.setdefault(r["repo"], []).append(r)
        table = []
        for repo, files in by_repo.items():
            meta = REPOS[repo]
            table.append({"repo_name": repo, "star_events_count": meta["stars"], "gha_license_id": meta["license"],
                          "gha_created_at": meta["created"], "num_files": len(files),
                          "files": [{"blob_id": git_sha(f["content"]), "path": f["path"], "content": f["content"],
                                     # a label on some files only: the others' language comes from the path
                                     "language": lang_of(f["path"]) if i % 2 == 0 else None,
                                     "length_bytes": len(f["content"].encode())} for i, f in enumerate(files)]})
        pq.write_table(pa.Table.from_pylist(table), folder / f"repos-{part}.parquet")
    return folder


# --- JSON lines through --columns -------------------------------------------------------------

JSONL_COLUMNS = "content=text,repo=repo_name,path=file_path,stars=stargazers,license=licence,repo_created_at=created"


def jsonl_row(r: dict) -> dict:
    return {"text": r["content"], "repo_name": r["repo"], "file_path": r["path"], "stargazers": r["stars"],
            "licence": r["license"], "created": r["created"].isoformat().replace("+00:00", "Z") if r["created"] else None,
            "meta": {"source": "somewhere"}}


def write_jsonl(folder: Path, extra_lines: list[str] = ()) -> Path:
    """A plain .jsonl and a .jsonl.gz, any names; `extra_lines` go into the first."""
    folder.mkdir(parents=True, exist_ok=True)
    a, b = halves(CORPUS)
    (folder / "shard_a.jsonl").write_text("".join(json.dumps(jsonl_row(r)) + "\n" for r in a)
                                          + "".join(line + "\n" for line in extra_lines) + "\n")
    (folder / "more").mkdir(exist_ok=True)
    with gzip.open(folder / "more/shard_b.jsonl.gz", "wt") as fh:
        fh.write("".join(json.dumps(jsonl_row(r)) + "\n" for r in b))
    return folder


# --- HF datasets save_to_disk, written with pyarrow in the layout datasets uses -----------------

def _features(schema: pa.Schema) -> dict:
    def feature(t: pa.DataType):
        if pa.types.is_list(t):
            return {"feature": feature(t.value_type), "_type": "List"}
        dtype = {pa.string(): "string", pa.large_string(): "large_string", pa.int64(): "int64",
                 pa.float64(): "float64", pa.bool_(): "bool"}[t]
        return {"dtype": dtype, "_type": "Value"}
    return {f.name: feature(f.type) for f in schema}


def write_save_to_disk(folder: Path, rows: list[dict], num_shards: int = 2, batch_rows: int = 2) -> Path:
    """`Dataset.save_to_disk`'s layout: data-0000K-of-0000N.arrow (Arrow IPC *stream* files, record
    batches of `batch_rows`, the features in the schema's `huggingface` metadata), state.json
    listing them, dataset_info.json with the features."""
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows)
    features = _features(table.schema)
    table = table.replace_schema_metadata({"huggingface": json.dumps({"info": {"features": features}})})
    per = -(-table.num_rows // num_shards)
    names = []
    for k in range(num_shards):
        name = f"data-{k:05d}-of-{num_shards:05d}.arrow"
        part = table.slice(k * per, per)
        with pa.OSFile(str(folder / name), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
            for batch in part.to_batches(max_chunksize=batch_rows):
                writer.write_batch(batch)
        names.append(name)
    (folder / "state.json").write_text(json.dumps({
        "_data_files": [{"filename": n} for n in names], "_fingerprint": "0123456789abcdef",
        "_format_columns": None, "_format_kwargs": {}, "_format_type": None, "_output_all_columns": False,
        "_split": None}, indent=2))
    (folder / "dataset_info.json").write_text(json.dumps({"citation": "", "description": "", "features": features,
                                                          "homepage": "", "license": ""}, indent=2))
    return folder


def write_dataset_dict(folder: Path, splits: dict[str, list[dict]]) -> Path:
    """`DatasetDict.save_to_disk`: dataset_dict.json naming the splits, one save_to_disk folder each."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in splits.items():
        write_save_to_disk(folder / name, rows, num_shards=1)
    (folder / "dataset_dict.json").write_text(json.dumps({"splits": list(splits)}))
    return folder
