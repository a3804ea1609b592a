"""A folder of repositories (each sub-folder one) written as a dataset in The Stack v1's layout.

    python scripts/stack_v1_from_repos.py FOLDER OUT [--limit-mb 250] [--shuffle]

OUT/data/<lang>/train-NNNNN.parquet (zstd, row groups of 1,000 rows), partitioned by language as The
Stack v1 is, so a repository with files in several languages lies in several files. Within a language
the rows are in repository order, or shuffled with --shuffle. Files whose language is known by name,
UTF-8 and at most 1 MB, until --limit-mb of text. This is the input measured in docs/crawl.md#measured:
`dscoder crawl OUT …`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from stages.core.languages import detect_language

ROWS_PER_FILE = 20_000


def rows_of(repo: Path, name: str) -> list[dict]:
    out = []
    for dirpath, dirnames, filenames in os.walk(repo):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
        for fname in sorted(filenames):
            p = Path(dirpath) / fname
            lang = detect_language(fname)
            if lang is None or p.is_symlink() or not p.is_file():
                continue
            data = p.read_bytes()
            if len(data) > 1 << 20 or b"\0" in data:
                continue
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                continue
            out.append({"hexsha": hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest(), "size": len(data),
                        "ext": p.suffix.lstrip("."), "lang": lang, "max_stars_repo_path": p.relative_to(repo).as_posix(),
                        "max_stars_repo_name": name, "max_stars_repo_head_hexsha": "0" * 40,
                        "max_stars_repo_licenses": ["MIT"], "max_stars_count": float(len(name)), "content": text})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--limit-mb", type=float, default=250.0)
    ap.add_argument("--shuffle", action="store_true")
    args = ap.parse_args()
    by_lang: dict[str, list[dict]] = defaultdict(list)
    total = repos = 0
    for entry in sorted(os.listdir(args.folder)):
        repo = args.folder / entry
        if total >= args.limit_mb * 1e6:
            break
        if not repo.is_dir() or entry.startswith((".", "_")) or entry.endswith(".dist-info"):
            continue
        rows = rows_of(repo, f"local/{entry}")
        repos += bool(rows)
        for r in rows:
            by_lang[r["lang"]].append(r)
            total += r["size"]
    n = 0
    for lang, rows in sorted(by_lang.items()):
        if args.shuffle:
            random.Random(0).shuffle(rows)
        folder = args.out / "data" / lang.lower().replace(" ", "-").replace("+", "p").replace("#", "sharp")
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(0, len(rows), ROWS_PER_FILE):
            pq.write_table(pa.Table.from_pylist(rows[k:k + ROWS_PER_FILE]),
                           folder / f"train-{k // ROWS_PER_FILE:05d}.parquet", row_group_size=1000, compression="zstd")
        n += len(rows)
    print(f"{repos} repositories, {n:,} files, {total / 1e6:.1f} MB of text, {len(by_lang)} languages -> {args.out}")


if __name__ == "__main__":
    main()
