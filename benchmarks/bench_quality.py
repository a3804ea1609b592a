"""The quality pass (``filter --rules quality``, default ``--granularity file``, 1 worker) on
topo-sort's samples of the demo corpus: with the syntax scores topo-sort recorded (parse once,
docs/filter.md#parse-once) against the same samples without those columns, where every checked file
is parsed again (the path of samples from an older topo-sort). Both outputs, `_rejected/` included,
are asserted identical. Also the cost of recording in topo-sort (the same topo-sort with
``syntax_scores=()``), since the Python files' ``ast.parse`` moves there rather than vanishing.

    python -m benchmarks.bench_quality SAMPLES [--files FILES] [--out DIR]

MB/s per core: MB of sample text / CPU seconds of this process (one worker runs in it), so the
figure holds on a machine shared with other jobs; wall-clock MB/s printed beside it.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from stages.core.runner import RunOptions, run_stage
from stages.filter.config import FilterConfig
from stages.filter.stage import FilterStage
from stages.topo_sort.config import TopoSortConfig
from stages.topo_sort.stage import TopoSortStage

SYNTAX_COLUMNS = ["syntax_scores", "syntax_key"]


def _timed(stage, out: Path) -> tuple[dict, float, float]:
    shutil.rmtree(out, ignore_errors=True)
    t0, c0 = time.perf_counter(), time.process_time()
    summary = run_stage(stage, RunOptions(output=out, workers=1))
    return summary, time.perf_counter() - t0, time.process_time() - c0


def _comparable(table: pa.Table) -> pa.Table:
    """Without the syntax columns, floats as their bits (NaN equals NaN)."""
    table = table.drop_columns([c for c in SYNTAX_COLUMNS if c in table.column_names])
    for i, f in enumerate(table.schema):
        if pa.types.is_floating(f.type):
            table = table.set_column(i, f.name, table[f.name].combine_chunks().view(pa.int64()))
        elif pa.types.is_list(f.type) and pa.types.is_floating(f.type.value_type):
            table = table.set_column(i, f.name, table[f.name].combine_chunks().view(pa.list_(pa.int64())))
    return table


def same_outputs(a: Path, b: Path) -> bool:
    for sub in ("", "_rejected"):
        x, y = sorted((a / sub).glob("part-*.parquet")), sorted((b / sub).glob("part-*.parquet"))
        if [p.name for p in x] != [p.name for p in y]:
            return False
        if not all(_comparable(pq.read_table(p)).equals(_comparable(pq.read_table(q))) for p, q in zip(x, y)):
            return False
    return True


def bench_quality(samples: Path, out: Path) -> dict:
    """Quality pass with the recorded scores and with them removed; identical outputs asserted."""
    bare = out / "samples-without-records"
    shutil.rmtree(bare, ignore_errors=True)
    bare.mkdir(parents=True)
    for path in sorted(samples.glob("part-*.parquet")):
        table = pq.read_table(path)
        pq.write_table(table.drop_columns([c for c in SYNTAX_COLUMNS if c in table.column_names]), bare / path.name)
    threads = pa.cpu_count()
    pa.set_cpu_count(1)  # one core: keep Arrow's kernels single-threaded as numpy is
    try:
        runs = {}
        for name, src in (("recorded", samples), ("reparsed", bare)):
            s, wall, cpu = _timed(FilterStage(FilterConfig(input=src, rule_sets=("quality",))), out / f"quality-{name}")
            mb = s["bytes_in"] / 1e6
            runs[name] = {"mb": mb, "wall_s": wall, "cpu_s": cpu, "mb_s_cpu": mb / cpu, "mb_s_wall": mb / wall,
                          "rows_in": s["rows_in"], "rows_kept": s["rows_kept"]}
    finally:
        pa.set_cpu_count(threads)
    identical = same_outputs(out / "quality-recorded", out / "quality-reparsed")
    assert identical, "the quality pass decided differently with the recorded syntax scores"
    return {**runs, "identical": identical, "speedup_cpu": runs["reparsed"]["cpu_s"] / runs["recorded"]["cpu_s"]}


def bench_recording(files: Path, out: Path) -> dict:
    """topo-sort's CPU seconds with and without recording syntax scores."""
    got = {}
    for name, kw in (("recording", {}), ("not_recording", {"syntax_scores": ()})):
        s, wall, cpu = _timed(TopoSortStage(TopoSortConfig(input=files, **kw)), out / f"topo-sort-{name}")
        got[name] = {"cpu_s": cpu, "wall_s": wall, "mb": s["bytes_in"] / 1e6,
                     "recorded": s["counters"].get("syntax_recorded", 0)}
    return got


def report(quality: dict, topo: dict | None = None) -> None:
    r, p = quality["recorded"], quality["reparsed"]
    print(f"quality pass (1 worker, {r['mb']:.1f} MB of samples, {r['rows_in']:,} files -> {r['rows_kept']:,} kept): "
          f"with topo-sort's syntax scores {r['mb_s_cpu']:.1f} MB/s per core ({r['cpu_s']:.2f} CPU s, "
          f"{r['mb_s_wall']:.1f} MB/s wall), parsing again {p['mb_s_cpu']:.1f} MB/s per core ({p['cpu_s']:.2f} CPU s, "
          f"{p['mb_s_wall']:.1f} MB/s wall): {quality['speedup_cpu']:.1f}x, identical decisions "
          f"(target >= 10 MB/s per core)")
    if topo:
        a, b = topo["recording"], topo["not_recording"]
        print(f"topo-sort (1 worker, {a['mb']:.1f} MB): {a['cpu_s']:.2f} CPU s recording {a['recorded']:,} syntax "
              f"scores, {b['cpu_s']:.2f} CPU s without (+{a['cpu_s'] - b['cpu_s']:.2f} s: mostly Python's ast.parse, "
              "which the quality pass no longer runs)")


def main(ctx) -> None:
    samples = ctx.out / "topo_sort"  # bench_topo_sort's output (default options: scores recorded)
    if not samples.is_dir():
        _timed(TopoSortStage(TopoSortConfig(input=ctx.filtered)), samples)
    out = ctx.out / "quality"
    report(bench_quality(samples, out), bench_recording(ctx.filtered, out))


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("samples", type=Path, help="topo-sort output (samples shards with syntax_scores)")
    parser.add_argument("--files", type=Path, help="topo-sort's input, to measure the cost of recording too")
    parser.add_argument("--out", type=Path, default=Path("bench-out/quality"))
    args = parser.parse_args()
    report(bench_quality(args.samples, args.out), bench_recording(args.files, args.out) if args.files else None)


if __name__ == "__main__":
    cli()
