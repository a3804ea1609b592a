"""`make bench`: every stage's throughput on the demo corpus, each against a baseline measured in
the same run.

The demo corpus (the Python standard library and this venv's site-packages, one repository per
package) is crawled once into bench-out/files and filtered into bench-out/filtered; then each
`benchmarks/bench_<stage>.py` that exists runs its `main(ctx)` in pipeline order.
"""

from __future__ import annotations

import importlib
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from stages.core.runner import RunOptions, run_stage
from stages.crawl.config import CrawlConfig, CrawlStageConfig
from stages.crawl.stage import CrawlStage
from stages.filter.config import FilterConfig
from stages.filter.stage import FilterStage

ROOT = Path(__file__).resolve().parents[1]
STAGE_BENCHES = ["bench_topo_sort", "bench_quality", "bench_dedup", "bench_decontam", "bench_pii", "bench_tokenize", "bench_pretrain",
                 "bench_eval"]


@dataclass
class BenchContext:
    out: Path  # scratch folder for this run
    files: Path  # crawl output of the demo corpus (`files` shards)
    filtered: Path  # the same after `filter --rules starcoder`


def _demo_list(out: Path) -> Path:
    sys.path.insert(0, str(ROOT / "scripts"))
    from demo_sources import main as write_list
    write_list(str(out / "repos.txt"))
    return out / "repos.txt"


def bench_crawl(repos: Path, out: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    s = run_stage(CrawlStage(CrawlStageConfig(source=str(repos), crawl=CrawlConfig(), shard_size_mb=32)),
                  RunOptions(output=out, workers=1))
    dt = time.perf_counter() - t0
    return {"files": s["rows_in"], "files_kept": s["rows_kept"], "mb": s["bytes_in"] / 1e6, "seconds": dt,
            "files_s": s["rows_in"] / dt, "mb_s": s["bytes_in"] / 1e6 / dt}


def bench_filter_stage(files: Path, out: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    s = run_stage(FilterStage(FilterConfig(input=files)), RunOptions(output=out, workers=1))
    dt = time.perf_counter() - t0
    return {"mb": s["bytes_in"] / 1e6, "seconds": dt, "mb_s": s["bytes_in"] / 1e6 / dt}


def main() -> None:
    from .bench_filter import bench_filter

    ctx = BenchContext(out=ROOT / "bench-out", files=ROOT / "bench-out/files",
                       filtered=ROOT / "bench-out/filtered")
    ctx.out.mkdir(exist_ok=True)
    crawl = bench_crawl(_demo_list(ctx.out), ctx.files)
    print(f"crawl  (1 worker): {crawl['files']:,} files seen, {crawl['files_kept']:,} kept, "
          f"{crawl['mb']:.1f} MB in {crawl['seconds']:.2f}s = {crawl['files_s']:,.0f} files/s, "
          f"{crawl['mb_s']:.1f} MB/s")
    table = pa.concat_tables(pq.read_table(p) for p in sorted(ctx.files.glob("part-*.parquet")))
    rules = bench_filter(table)
    print(f"filter rules (1 core, {rules['mb']:.1f} MB): vectorised {rules['vectorised_mb_s']:.0f} MB/s, "
          f"per-document Python loop {rules['loop_mb_s']:.1f} MB/s, ratio {rules['ratio']:.1f}x "
          "(identical decisions)")
    stage = bench_filter_stage(ctx.files, ctx.filtered)
    print(f"filter stage (1 worker, Parquet in and out): {stage['mb']:.1f} MB in {stage['seconds']:.2f}s "
          f"= {stage['mb_s']:.0f} MB/s")
    for name in STAGE_BENCHES:
        if (Path(__file__).parent / f"{name}.py").exists():
            print(f"== {name[len('bench_'):]}")
            importlib.import_module(f"benchmarks.{name}").main(ctx)


if __name__ == "__main__":
    main()
