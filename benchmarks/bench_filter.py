"""Throughput of the StarCoder file filter: vectorised ``apply_rules`` vs. the per-document loop.

    python -m benchmarks.bench_filter [--mb 100] [--root STDLIB]

builds a table from the Python standard library's text files and prints the numbers.
MB are megabytes (1e6) of UTF-8 text.
"""

from __future__ import annotations

import argparse
import json
import sysconfig
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from benchmarks.reference_starcoder import filter_document
from stages.filter.config import StarCoderConfig
from stages.filter.framework import apply_rules
from stages.filter.starcoder import starcoder_rules

EXT_LANG = {".py": "Python", ".pyi": "Python", ".html": "HTML", ".json": "JSON", ".xml": "XML",
            ".xsl": "XSLT", ".css": "CSS", ".js": "JavaScript", ".c": "C", ".h": "C", ".toml": "TOML"}


def bench_filter(table: pa.Table, text_column: str = "content", lang_column: str | None = "lang",
                 config: StarCoderConfig | None = None) -> dict:
    config = config or StarCoderConfig()
    texts = table.column(text_column)
    langs = table.column(lang_column) if lang_column and lang_column in table.column_names else None
    mb = (pc.sum(pc.binary_length(texts)).as_py() or 0) / 1e6

    best, result = float("inf"), None
    for _ in range(3):
        t0 = time.perf_counter()
        result = apply_rules(texts, langs, starcoder_rules(config))
        best = min(best, time.perf_counter() - t0)

    py_texts = texts.to_pylist()
    py_langs = langs.to_pylist() if langs is not None else [None] * len(py_texts)
    t0 = time.perf_counter()
    expected = [filter_document(t, lang, config) for t, lang in zip(py_texts, py_langs)]
    loop = time.perf_counter() - t0

    assert result.reason.to_pylist() == expected, "vectorised and loop decisions differ"
    return {
        "rows": len(py_texts),
        "mb": round(mb, 2),
        "kept": int(result.keep.sum()),
        "counts": result.counts,
        "vectorised_s": round(best, 4),
        "loop_s": round(loop, 4),
        "vectorised_mb_s": round(mb / best, 1),
        "loop_mb_s": round(mb / loop, 1),
        "ratio": round(loop / best, 1),
    }


def stdlib_table(root: Path, max_mb: float) -> pa.Table:
    """Text files (UTF-8 decodable) under ``root`` in sorted order, up to ``max_mb``."""
    rows, total = [], 0
    for path in sorted(root.rglob("*")):
        if total >= max_mb * 1e6:
            break
        if not path.is_file() or path.suffix in (".pyc", ".so", ".gz", ".exe", ".npz", ".png", ".wav"):
            continue
        data = path.read_bytes()
        try:
            content = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        rows.append({"path": str(path.relative_to(root)), "lang": EXT_LANG.get(path.suffix, "Text"), "content": content})
        total += len(data)
    return pa.Table.from_pylist(rows, schema=pa.schema([("path", pa.string()), ("lang", pa.string()), ("content", pa.large_string())]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=100.0, help="megabytes of files to read")
    parser.add_argument("--root", type=Path, default=Path(sysconfig.get_paths()["stdlib"]))
    args = parser.parse_args()
    pa.set_cpu_count(1)  # one core: numpy is single-threaded already, keep Arrow kernels so too
    table = stdlib_table(args.root, args.mb)
    print(json.dumps(bench_filter(table), indent=2))


if __name__ == "__main__":
    main()
