"""Dedup throughput and memory, each against baselines measured in the same run.

    python -m benchmarks.bench_dedup [--files bench-out/files] [--out bench-out/dedup] [--sizes 100000,1000000]

1. Signature MB/s on one core, end to end from the text column (tokenising, shingling, 256
   permutations, band hashes): this implementation (rensa and numpy permutation backends),
   datasketch `MinHash.bulk` over BigCode-style Python shingling, and datatrove's
   `MinhashDedupSignature` where it imports. Same samples (the demo corpus, one file per sample).
2. The whole `dedup` stage (all phases, one worker) on the same samples.
3. Peak RSS of the `buckets` and `cluster` phases on synthetic signatures (100k and 1M samples, 10%
   near-duplicates sharing some bands, 2% exact copies), each phase in a fresh child process.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from stages.core.runner import RunOptions, run_stage
from stages.core.stage import Stage, Unit, UnitResult
from stages.dedup.minhash import MinHasher, band_hashes
from stages.dedup.config import DedupConfig
from stages.dedup.stage import run, signature_options
from stages.core.schemas import SAMPLES_SCHEMA

ROOT = Path(__file__).resolve().parents[1]
NON_ALPHA = re.compile("[^A-Za-z_0-9]")


def samples_from_files(files: Path, limit_mb: float | None = None) -> pa.Table:
    """One sample per file of a `files` folder (the per-file case of the paper)."""
    table = pa.concat_tables(pq.read_table(p, columns=["repo", "path", "lang", "content"])
                             for p in sorted(Path(files).glob("part-*.parquet")))
    if limit_mb:
        sizes = pc.binary_length(table["content"]).to_numpy()
        table = table.slice(0, int(np.searchsorted(np.cumsum(sizes), limit_mb * 1e6)) + 1)
    n = table.num_rows
    repos = table["repo"].to_pylist()
    return pa.table({
        "sample_id": [f"{r}#{i}" for i, r in enumerate(repos)], "repo": table["repo"], "lang": table["lang"],
        "paths": pa.array([[p] for p in table["path"].to_pylist()], pa.list_(pa.string())),
        "langs": pa.array([[lang] for lang in table["lang"].to_pylist()], pa.list_(pa.string())),
        "text": table["content"].cast(pa.large_string()), "n_files": pa.array(np.ones(n, np.int64)),
        "size": pc.binary_length(table["content"]).cast(pa.int64()),
        "syntax_scores": pa.nulls(n, SAMPLES_SCHEMA.field("syntax_scores").type),  # not parsed
        "syntax_key": pa.nulls(n, pa.string()),
    }, schema=SAMPLES_SCHEMA)


def _mb(texts) -> float:
    return (pc.sum(pc.binary_length(texts)).as_py() or 0) / 1e6


def time_ours(texts, backend: str, repeats: int = 3) -> float:
    hasher = MinHasher(backend=backend)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        sig, _ = hasher.signatures(texts)
        band_hashes(sig, 25, 10)
        best = min(best, time.perf_counter() - t0)
    return _mb(texts) / best


def time_datasketch(texts) -> float:
    from datasketch import MinHash

    def shingles(text: str) -> set[bytes]:  # BigCode's near_deduplication.py (without lower-casing)
        tokens = [t for t in NON_ALPHA.split(text) if t]
        return {" ".join(tokens[i:i + 5]).encode() for i in range(len(tokens) - 4)}

    t0 = time.perf_counter()
    MinHash.bulk([shingles(t) for t in texts.to_pylist()], num_perm=256)
    return _mb(texts) / (time.perf_counter() - t0)


def time_datatrove(texts, scratch: Path) -> tuple[float | None, str]:
    try:
        from datatrove.data import Document
        from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
    except Exception as exc:  # noqa: BLE001 -- optional baseline
        return None, f"skipped (datatrove does not import: {type(exc).__name__}: {exc}; "\
                     "`pip install 'datatrove[processing]'` to compare)"
    from datatrove.utils.word_tokenizers import WordTokenizer

    class CodeTokens(WordTokenizer):  # BigCode's split, as for the others (datatrove's default needs spaCy)
        def word_tokenize(self, text):
            return [t for t in NON_ALPHA.split(text) if t]

        def sent_tokenize(self, text):
            return [text]

        def span_tokenize(self, text):
            return [(0, len(text))]

    try:
        from loguru import logger
        logger.disable("datatrove")
    except ImportError:
        pass
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        config = MinhashConfig(num_buckets=25, hashes_per_bucket=10, n_grams=5)
        step = MinhashDedupSignature(output_folder=str(scratch), config=config, language=CodeTokens())
    except Exception as exc:  # noqa: BLE001 -- optional baseline, API differs between versions
        return None, f"skipped (datatrove {type(exc).__name__}: {exc})"
    hash_func = getattr(step, "_hash_func", None)
    try:
        hash_func and hash_func("a b")
    except TypeError:  # datatrove 0.10 passes str, which xxhash >= 4 refuses: encode first (as datasketch's input)
        step._hash_func = lambda text: hash_func(text.encode())
        note = "shingles encoded for xxhash 4, "
    else:
        note = ""
    docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts.to_pylist())]
    t0 = time.perf_counter()
    try:
        result = step.run(iter(docs), rank=0, world_size=1)  # a generator in some versions
        for _ in result or ():
            pass
    except Exception as exc:  # noqa: BLE001
        return None, f"skipped (datatrove failed: {type(exc).__name__}: {exc})"
    return _mb(texts) / (time.perf_counter() - t0), (f"{note}{config.num_buckets}x{config.hashes_per_bucket} hashes, "
                                                     "its text normalisation included")


# -- clustering memory on synthetic signatures --------------------------------------------------------

class SyntheticSignatures(Stage):
    """Stands in for the `signatures` phase: random band hashes with planted duplicates."""

    name = "dedup.signatures"

    def __init__(self, config: DedupConfig, n_samples: int, n_shards: int):
        self.config, self.n, self.shards = config, n_samples, n_shards

    def options(self) -> dict:
        return signature_options(self.config)

    def plan(self) -> list[Unit]:
        return [Unit(f"part-{s:05d}", [{"index": s, "size": 0}]) for s in range(self.shards)]

    def process(self, unit: Unit) -> UnitResult:
        s = unit.inputs[0]["index"]
        per = self.n // self.shards
        rng = np.random.default_rng(s)
        keys = (np.uint64(s) << np.uint64(32)) | np.arange(per, dtype=np.uint64)
        bands = rng.integers(0, 2**63, (per, self.config.bands), dtype=np.uint64)
        content = rng.integers(0, 2**63, (per, 2), dtype=np.uint64)
        near = rng.random(per) < 0.10  # shares 1-5 bands with the row before it
        for i in np.flatnonzero(near[1:]) + 1:
            shared = rng.choice(self.config.bands, rng.integers(1, 6), replace=False)
            bands[i, shared] = bands[i - 1, shared]
        exact = np.flatnonzero(rng.random(per) < 0.02)
        exact = exact[exact > 0]
        bands[exact], content[exact] = bands[exact - 1], content[exact - 1]
        cols = {"key": pa.array(keys), "sample_id": pa.array([f"r{s}/{i}#0" for i in range(per)]),
                "n_files": pa.array(np.ones(per, np.int64)), "size": pa.array(rng.integers(100, 10**5, per)),
                "content_hash": pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), per,
                                                                     [None, pa.py_buffer(content.tobytes())]),
                "n_shingles": pa.array(np.full(per, 100, np.int64))}
        for b in range(self.config.bands):
            cols[f"band_{b:03d}"] = pa.array(bands[:, b])
        return UnitResult(kept=pa.table(cols), rows_in=per)


def _phase_child(out: str, phase: str) -> None:
    """Run one phase in this (fresh) process and print its peak RSS (VmHWM: reset by exec, unlike
    ru_maxrss, which a forked child inherits from its parent)."""
    config = DedupConfig(input=Path(out) / "no-input", output=Path(out), backend="numpy")
    from stages.dedup.stage import PHASE_STAGES
    stage = PHASE_STAGES[phase](config)
    t0 = time.perf_counter()
    summary = run_stage(stage, RunOptions(output=config.phase_dir(phase)))
    hwm_kb = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
                  if line.startswith("VmHWM:"))
    print(json.dumps({"peak_rss_mb": hwm_kb / 1024,
                      "seconds": time.perf_counter() - t0, "counters": summary["counters"]}))


def clustering_memory(n_samples: int, scratch: Path) -> dict:
    shutil.rmtree(scratch, ignore_errors=True)
    config = DedupConfig(input=scratch / "no-input", output=scratch, backend="numpy")
    run_stage(SyntheticSignatures(config, n_samples, n_shards=8), RunOptions(output=config.phase_dir("signatures")))
    out = {}
    for phase in ("buckets", "cluster"):
        r = subprocess.run([sys.executable, "-c", "import sys; from benchmarks.bench_dedup import _phase_child; "
                            "_phase_child(sys.argv[1], sys.argv[2])", str(scratch), phase],
                           cwd=ROOT, check=True, capture_output=True, text=True)
        out[phase] = json.loads(r.stdout.strip().splitlines()[-1])
    shutil.rmtree(scratch, ignore_errors=True)
    return out


def main(ctx=None, sizes=(100_000, 1_000_000)) -> None:
    files = ctx.files if ctx else ROOT / "bench-out/files"
    scratch = (ctx.out if ctx else ROOT / "bench-out") / "dedup"
    scratch.mkdir(parents=True, exist_ok=True)
    samples = samples_from_files(files)
    texts = samples["text"]
    baseline = samples_from_files(files, limit_mb=8)["text"]  # the slow baselines on the first ~8 MB
    print(f"samples: {samples.num_rows:,} files of the demo corpus, {_mb(texts):.1f} MB; baselines on the "
          f"first {baseline.length():,} ({_mb(baseline):.1f} MB)")

    ours = {}
    for backend in ("rensa", "numpy"):
        try:
            ours[backend] = (time_ours(texts, backend), time_ours(baseline, backend, repeats=1))
        except ValueError as exc:
            print(f"signatures ({backend}): skipped ({exc})")
    ds = time_datasketch(baseline)
    dt, dt_note = time_datatrove(baseline, scratch / "datatrove")
    print("signatures, 1 core, end to end (tokens, 5-gram shingles, 256 permutations):")
    for backend, (full, same) in ours.items():
        print(f"  dscoder ({backend}): {full:.1f} MB/s on all samples, {same:.1f} MB/s on the baseline subset "
              f"= {same / ds:.1f}x datasketch" + (f", {same / dt:.1f}x datatrove" if dt else ""))
    print(f"  datasketch MinHash.bulk (BigCode shingling in Python): {ds:.1f} MB/s")
    print("  datatrove MinhashDedupSignature: " + (f"{dt:.1f} MB/s ({dt_note})" if dt else dt_note))

    folder = scratch / "samples"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    per = -(-samples.num_rows // 4)
    for s in range(4):
        pq.write_table(samples.slice(s * per, per), folder / f"part-{s:05d}.parquet")
    out = scratch / "out"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    summary = run(DedupConfig(input=folder, output=out), RunOptions(output=out))
    total = time.perf_counter() - t0
    phases = ", ".join(f"{k} {v:.2f}s" for k, v in summary["phases"].items())
    print(f"dedup stage (all phases, 1 worker): {summary['rows_in']:,} samples, {_mb(texts):.1f} MB in {total:.2f}s "
          f"= {_mb(texts) / total:.1f} MB/s ({phases}); removed {summary['counters']}")

    for n in sizes:
        mem = clustering_memory(n, scratch / f"synthetic-{n}")
        b, c = mem["buckets"], mem["cluster"]
        print(f"clustering, {n:,} synthetic signatures: buckets phase peak RSS {b['peak_rss_mb']:.0f} MiB "
              f"({b['seconds']:.1f}s, {b['counters'].get('candidate_edges', 0):,} edges), cluster phase peak RSS "
              f"{c['peak_rss_mb']:.0f} MiB ({c['seconds']:.1f}s, {c['counters'].get('samples_in_clusters', 0):,} "
              f"samples in {c['counters'].get('clusters', 0):,} clusters)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=Path, default=ROOT / "bench-out/files")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-out")
    parser.add_argument("--sizes", default="100000,1000000")
    args = parser.parse_args()

    class _Ctx:
        files, out = args.files, args.out
    main(_Ctx, sizes=tuple(int(s) for s in args.sizes.split(",")))
