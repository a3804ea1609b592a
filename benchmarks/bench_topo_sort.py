"""topo-sort throughput: files/s with one worker on the demo corpus, and growth from a synthetic
1k-file repository to a 10k-file one (target: ≤ 15× the time for 10× the files)."""

from __future__ import annotations

import random
import shutil
import time

from stages.core.runner import RunOptions, run_stage
from stages.topo_sort.deps import RepoFile
from stages.topo_sort.config import PAPER_SCOPE, TopoSortConfig
from stages.topo_sort.stage import TopoSortStage, repo_samples


def synthetic_repo(n_files: int, seed: int = 0) -> list[RepoFile]:
    """n Python modules in 10-module packages, each importing three random earlier modules."""
    rng = random.Random(seed)
    names = [f"pkg{i // 10}/mod{i}" for i in range(n_files)]
    files = []
    for i, name in enumerate(names):
        imports = [names[j].replace("/", ".") for j in rng.sample(range(i), min(3, i))]
        body = "".join(f"import {m}\n" for m in imports) + f"\n\ndef f{i}(x):\n    return x + {i}\n"
        files.append(RepoFile(f"{name}.py", "Python", body))
    return files


def time_repo(n_files: int) -> float:
    files = synthetic_repo(n_files)
    t0 = time.perf_counter()
    repo_samples("synthetic", files, frozenset(PAPER_SCOPE), seed=0)
    return time.perf_counter() - t0


def main(ctx) -> None:
    out = ctx.out / "topo_sort"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    s = run_stage(TopoSortStage(TopoSortConfig(input=ctx.filtered)), RunOptions(output=out, workers=1))
    dt = time.perf_counter() - t0
    print(f"topo-sort (1 worker, demo corpus): {s['rows_in']:,} files -> {s['rows_out']:,} samples in {dt:.2f}s "
          f"= {s['rows_in'] / dt:,.0f} files/s ({s['counters'].get('edges', 0):,} edges, "
          f"{s['counters'].get('cycles', 0)} cycles, {s['counters'].get('parse_failures', 0)} parse failures)")
    t1k, t10k = time_repo(1_000), time_repo(10_000)
    print(f"topo-sort synthetic repository: 1k files {t1k:.2f}s, 10k files {t10k:.2f}s, "
          f"ratio {t10k / t1k:.1f}x for 10x the files (target <= 15x)")
