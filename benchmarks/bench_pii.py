"""`make bench`, pii: the `pii` rule set's MB/s per core against detect-secrets' own per-file API.

* `redact_table` (stages/filter/pii.py) over the whole demo corpus (`ctx.files`) on one core: MB/s,
  and what it redacted and kept on purpose, by kind;
* on a subset of the same files (every k-th file up to SUBSET_MB, a planted secret line in one
  file of PLANT_EVERY), in the same run: detect-secrets 1.5.0's `SecretsCollection.scan_file` on
  each file (bigcode's way of calling it, the same plugins we use) against our redaction of the
  same texts, with all kinds and with keys/passwords only; and whether every line detect-secrets
  flags is one we redact (our triggers must lose nothing).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from stages.filter.config import PiiConfig
from stages.filter.pii import SECRET_PLUGINS, PiiScanner, redact_table

ROOT = Path(__file__).resolve().parents[1]
SUBSET_MB = 2.0
PLANT_EVERY = 20
# Fake secrets of the kinds detect-secrets knows, one line each (planted into the subset).
PLANTED = [
    'AWS_ACCESS_KEY_ID = "AKIAZ7QXW4PLM2N3R5TY"',
    'GITHUB_TOKEN = "ghp_R8xT2mQ9vL4kP7nW3yZ6bC1dF5gH0jK2sA9e"',
    'SLACK = "xoxb-2048163264-4096819203-qW3eR5tY7uI9oP1aS2dF4gH6"',
    'STRIPE = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"',
    'db_password = "Tr0ub4dor&3x"',
    'DATABASE_URL = "postgres://admin:s3cr3tP4ss@db.acme-widgets.com:5432/app"',
]


def _read(folder: Path) -> pa.Table:
    return pa.concat_tables(pq.read_table(p, columns=["path", "content"]) for p in sorted(folder.glob("part-*.parquet")))


def _subset(files: pa.Table) -> list[tuple[str, str]]:
    total = pc.sum(pc.binary_length(files["content"])).as_py() or 0
    step = max(1, int(total / 1e6 / SUBSET_MB))
    out, size = [], 0
    for i, (path, text) in enumerate(zip(files["path"].to_pylist()[::step], files["content"].to_pylist()[::step])):
        if text is None:
            continue
        if i % PLANT_EVERY == 0:
            cut = text.find("\n", len(text) // 2) + 1 or len(text)
            text = text[:cut] + PLANTED[(i // PLANT_EVERY) % len(PLANTED)] + "\n" + text[cut:]
        out.append((path, text))
        size += len(text.encode("utf-8"))
        if size >= SUBSET_MB * 1e6:
            break
    return out


def _detect_secrets_per_file(subset: list[tuple[str, str]]) -> tuple[float, set[tuple[int, int]], list]:
    """detect-secrets' own API, one file at a time: seconds, and the (file, line) it flags."""
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import transient_settings

    with tempfile.TemporaryDirectory() as tmp:
        names = []
        for i, (path, text) in enumerate(subset):  # written first: only the scan is timed
            name = os.path.join(tmp, f"{i:05d}{Path(path).suffix}")
            with open(name, "w", encoding="utf-8") as f:
                f.write(text)
            names.append(name)
        flagged, values = set(), []
        with transient_settings({"plugins_used": [{"name": n} for n in SECRET_PLUGINS]}):
            t0 = time.perf_counter()
            for i, name in enumerate(names):
                collection = SecretsCollection()
                collection.scan_file(name)
                for secrets in collection.data.values():
                    for s in secrets:
                        flagged.add((i, s.line_number))
                        values.append((i, s.line_number, s.type, s.secret_value))
            seconds = time.perf_counter() - t0
    return seconds, flagged, values


def _ours(subset: list[tuple[str, str]], config: PiiConfig) -> tuple[float, set[tuple[int, int]]]:
    scanner = PiiScanner(config)
    t0 = time.perf_counter()
    found = [scanner.scan_row(text, [path], False)[0] for path, text in subset]
    seconds = time.perf_counter() - t0
    lines = {(i, text.count("\n", 0, r.start) + 1) for i, ((_, text), rs) in enumerate(zip(subset, found))
             for r in rs if r.detector in SECRET_PLUGINS}
    return seconds, lines


def main(ctx) -> None:
    pa.set_cpu_count(1)
    files = _read(ctx.files)
    mb = (pc.sum(pc.binary_length(files["content"])).as_py() or 0) / 1e6
    t0 = time.perf_counter()
    _, counters = redact_table(files, "content", PiiConfig())
    seconds = time.perf_counter() - t0
    redacted = ", ".join(f"{counters[f'pii:{k}']:,} {k}" for k in ("email", "ip_address", "key", "password"))
    kept = ", ".join(f"{n:,} {k.split(':', 1)[1]}" for k, n in counters.items() if k.startswith("pii_kept:"))
    print(f"pii redact (1 core, {mb:.1f} MB, {files.num_rows:,} files): {seconds:.1f}s = {mb / seconds:.1f} MB/s; "
          f"redacted {redacted} in {counters['pii_rows']:,} files ({counters['pii_licence_header_emails']:,} "
          f"e-mails on licence lines); kept on purpose: {kept}")

    subset = _subset(files)
    sub_mb = sum(len(t.encode("utf-8")) for _, t in subset) / 1e6
    ds_s, theirs, values = _detect_secrets_per_file(subset)
    all_s, _ = _ours(subset, PiiConfig())
    sec_s, ours = _ours(subset, PiiConfig(kinds=("key", "password")))
    missed = theirs - ours
    print(f"pii vs detect-secrets (1 core, {len(subset):,} files, {sub_mb:.1f} MB, {len(SECRET_PLUGINS)} plugins, "
          f"a planted secret in 1 of {PLANT_EVERY} files): detect-secrets SecretsCollection.scan_file per file "
          f"{sub_mb / ds_s:.2f} MB/s; ours, keys+passwords {sub_mb / sec_s:.1f} MB/s ({ds_s / sec_s:.0f}x), all kinds "
          f"{sub_mb / all_s:.1f} MB/s ({ds_s / all_s:.0f}x)")
    print(f"  lines detect-secrets flags: {len(theirs)}, redacted by us: {len(theirs & ours)}; only ours: "
          f"{len(ours - theirs)}; by type: {dict(Counter(t for _, _, t, _ in values))}")
    if missed:
        print(f"  MISSED (trigger too narrow?): {sorted(v for v in values if (v[0], v[1]) in missed)[:5]}")


if __name__ == "__main__":
    from benchmarks.run import BenchContext

    main(BenchContext(out=ROOT / "bench-out", files=ROOT / "bench-out/files", filtered=ROOT / "bench-out/filtered"))
