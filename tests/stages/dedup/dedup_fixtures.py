"""Samples built from real code (this interpreter's standard library), with planted duplicates.

Near-copies change a controlled fraction of tokens (a seeded RNG picks which, and replaces each with
a fresh identifier), so their true Jaccard similarity to the original spans the threshold.
"""

from __future__ import annotations

import random
import re
import sysconfig
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from stages.core.schemas import SAMPLES_SCHEMA

TOKEN = re.compile(r"[A-Za-z_0-9]+")
EDIT_RATES = (0.005, 0.01, 0.02, 0.05, 0.2, 0.5)


def stdlib_files(n: int, seed: int = 0, min_bytes: int = 2_000, max_bytes: int = 40_000) -> list[tuple[str, str]]:
    """`n` (relative path, text) pairs of standard-library Python files, chosen by a seeded RNG."""
    root = Path(sysconfig.get_paths()["stdlib"])
    paths = sorted(p for p in root.glob("**/*.py")
                   if "site-packages" not in p.parts and min_bytes <= p.stat().st_size <= max_bytes)
    chosen = random.Random(seed).sample(paths, n)
    out = []
    for p in chosen:
        try:
            out.append((p.relative_to(root).as_posix(), p.read_text(encoding="utf-8")))
        except (UnicodeDecodeError, OSError):
            continue
    return out


def edit_tokens(text: str, rate: float, rng: random.Random) -> str:
    """Replace a `rate` fraction of the tokens of `text` with new identifiers."""
    spans = [m.span() for m in TOKEN.finditer(text)]
    k = max(1, round(rate * len(spans)))
    picked = sorted(rng.sample(range(len(spans)), min(k, len(spans))))
    parts, last = [], 0
    for i in picked:
        s, e = spans[i]
        parts.append(text[last:s])
        parts.append(f"zz{rng.getrandbits(40):x}")
        last = e
    parts.append(text[last:])
    return "".join(parts)


def sample_row(sample_id: str, path: str, text: str, n_files: int = 1) -> dict:
    return {"sample_id": sample_id, "repo": sample_id.split("#")[0], "lang": "Python", "paths": [path] * n_files,
            "text": text, "n_files": n_files, "size": len(text.encode())}


def planted_corpus(n_originals: int = 60, n_unrelated: int = 40, seed: int = 0) -> tuple[list[dict], list[tuple]]:
    """Rows of a samples table, and the planted (original id, copy id, kind) pairs.

    Each original gets one near-copy at an edit rate cycling through EDIT_RATES; every fifth also
    gets an exact copy. Unrelated files are present once. Rows are shuffled.
    """
    rng = random.Random(seed)
    files = stdlib_files(n_originals + n_unrelated, seed=seed)
    rows, planted = [], []
    for i, (path, text) in enumerate(files[:n_originals]):
        oid = f"orig{i:03d}#0"
        rows.append(sample_row(oid, path, text))
        rate = EDIT_RATES[i % len(EDIT_RATES)]
        cid = f"near{i:03d}#0"
        rows.append(sample_row(cid, path, edit_tokens(text, rate, rng)))
        planted.append((oid, cid, rate))
        if i % 5 == 0:
            eid = f"exact{i:03d}#0"
            rows.append(sample_row(eid, path, text))
            planted.append((oid, eid, 0.0))
    for j, (path, text) in enumerate(files[n_originals:]):
        rows.append(sample_row(f"other{j:03d}#0", path, text))
    rng.shuffle(rows)
    return rows, planted


def write_samples(folder: Path, rows: list[dict], n_shards: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    per = -(-len(rows) // n_shards)
    for s in range(n_shards):
        chunk = rows[s * per:(s + 1) * per]
        pq.write_table(pa.Table.from_pylist(chunk, schema=SAMPLES_SCHEMA), folder / f"part-{s:05d}.parquet")
    return folder


def read_parts(folder: Path) -> pa.Table | None:
    parts = sorted(Path(folder).glob("part-*.parquet"))
    return pa.concat_tables([pq.read_table(p) for p in parts]) if parts else None


def kept_ids(output: Path) -> list[str]:
    return read_parts(output)["sample_id"].to_pylist()
