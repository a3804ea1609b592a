"""`make bench`: throughput of crawl and filter on the demo corpus, with baselines from the same run.

- crawl: files/s and MB/s with one worker (per-worker numbers; workers scale by shards).
- filter rules: the vectorised StarCoder rules against the same rules written as a plain
  per-document Python loop (bigcode-dataset style), on the same rows, decisions checked identical.
- filter stage: end to end with one worker (Parquet read + rules + Parquet writes).
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from dscoder_cli.runtime.runner import RunOptions, run_stage
from stages.crawl.reader import CrawlConfig
from stages.crawl.stage import CrawlStage, CrawlStageConfig
from stages.filter.stage import FilterConfig, FilterStage

from .bench_filter import bench_filter

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench-out"


def _demo_list() -> Path:
    sys.path.insert(0, str(ROOT / "scripts"))
    from demo_sources import main as write_list
    OUT.mkdir(exist_ok=True)
    write_list(str(OUT / "repos.txt"))
    return OUT / "repos.txt"


def bench_crawl(repos: Path) -> dict:
    out = OUT / "files"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    s = run_stage(CrawlStage(CrawlStageConfig(source=str(repos), crawl=CrawlConfig(), shard_size=32 << 20)),
                  RunOptions(output=out, workers=1))
    dt = time.perf_counter() - t0
    return {"files": s["rows_in"], "files_kept": s["rows_kept"], "mb": s["bytes_in"] / 1e6, "seconds": dt,
            "files_s": s["rows_in"] / dt, "mb_s": s["bytes_in"] / 1e6 / dt}


def bench_filter_stage(files: Path) -> dict:
    out = OUT / "filtered"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    s = run_stage(FilterStage(FilterConfig(input=files)), RunOptions(output=out, workers=1))
    dt = time.perf_counter() - t0
    return {"mb": s["bytes_in"] / 1e6, "seconds": dt, "mb_s": s["bytes_in"] / 1e6 / dt}


def main() -> None:
    repos = _demo_list()
    crawl = bench_crawl(repos)
    print(f"crawl  (1 worker): {crawl['files']:,} files seen, {crawl['files_kept']:,} kept, "
          f"{crawl['mb']:.1f} MB in {crawl['seconds']:.2f}s = {crawl['files_s']:,.0f} files/s, "
          f"{crawl['mb_s']:.1f} MB/s")
    table = pa.concat_tables(pq.read_table(p) for p in sorted((OUT / "files").glob("part-*.parquet")))
    rules = bench_filter(table)
    print(f"filter rules (1 core, {rules['mb']:.1f} MB): vectorised {rules['vectorised_mb_s']:.0f} MB/s, "
          f"per-document Python loop {rules['loop_mb_s']:.1f} MB/s, ratio {rules['ratio']:.1f}x "
          "(identical decisions)")
    stage = bench_filter_stage(OUT / "files")
    print(f"filter stage (1 worker, Parquet in and out): {stage['mb']:.1f} MB in {stage['seconds']:.2f}s "
          f"= {stage['mb_s']:.0f} MB/s")


if __name__ == "__main__":
    main()
