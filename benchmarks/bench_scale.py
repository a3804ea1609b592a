"""`make bench-scale`: the data chain on two corpus sizes, each stage with --workers 1 and 2.

Corpora (both on every machine that ran `make setup`; scripts/demo_sources.py):
  demo  the standard library + a capped share of site-packages (~26 MB of files);
  site  every package of this venv's site-packages as a repository (~250 MB; torch, transformers…).

For each corpus, crawl runs with its default options (its own parallelism: repository groups),
then once more as ONE shard (`--shard-size 100000`): that single shard is the input of the chain,
so every later stage has to split its input into units itself to keep two workers busy. Each stage
(filter starcoder, topo-sort, dedup, filter quality+decontam, tokenize) runs with `--workers 1` and
`--workers 2` into separate folders; the next stage reads the workers-1 output. The tokenizer is
trained once (`--train-tokenizer --tokenizer-only`: one process, its time and peak RSS printed) and
both tokenize runs use it.

A stage whose --workers 1 run takes under 30 s runs 3 times (`--repeat`) and the best wall time of
each worker count counts (as timeit does): single runs of a few seconds vary by +-15% on a shared VM.

Printed per stage: MB/s per core (input MB / wall seconds / workers), peak RSS of the largest
process (the runner or one worker: `wait4` reports the maximum over the process tree), the speed-up
of --workers 2 over --workers 1 (and "in-stage": the same ratio of the seconds the stage's runner
reports, i.e. without the ~0.6 s interpreter start and exit no worker count can shorten), whether
the two outputs are byte-identical, and across the two
corpora the ratio of costs (wall seconds at --workers 1) against the ratio of sizes. The target
checks (speed-up >= 1.6 on the single-shard input, peak RSS <= 1.5 GiB per worker, cost ratio <=
1.1 x size ratio) are printed with the numbers, and the load average at start and end (the numbers
mean little on a busy machine). All numbers also go to OUT/results.json.

    python -m benchmarks.bench_scale [--corpora demo,site] [--out bench-scale-out] [--stages …]
                                     [--src DIR]   # measure another checkout's code (PYTHONPATH)
    python -m benchmarks.bench_scale --tokenizer-memory 100,1000   # BPE training peak RSS by MB
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GIB = 1 << 30
TARGET_SPEEDUP = 1.6
TARGET_RSS = 1.5 * GIB
TARGET_COST = 1.1  # cost ratio <= this x size ratio
REPEAT_BELOW = 30.0  # seconds: stages faster than this run --repeat times, the best run counts

# name -> (input stage, extra arguments); the chain's order. `{benchmarks}` is the decontam list.
STAGES = {
    "filter": ("files", ["filter", "--rules", "starcoder"]),
    "topo-sort": ("filter", ["topo-sort"]),
    "dedup": ("topo-sort", ["dedup"]),
    "quality": ("dedup", ["filter", "--rules", "quality,decontam", "--decontam", "{benchmarks}"]),
    "tokenize": ("quality", ["tokenize", "--tokenizer", "{tokenizer}"]),
}


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def run_measured(argv: list[str], env: dict, log: Path) -> dict:
    """Run a command; wall seconds, peak RSS (max over its process tree) and its stdout JSON."""
    t0 = time.monotonic()
    with open(log, "w") as err, open(log.with_suffix(".json"), "w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed (exit {proc.returncode}); see {log}:\n"
                         + log.read_text()[-2000:])
    summary = json.loads(log.with_suffix(".json").read_text() or "{}")
    return {"wall": wall, "rss": usage.ru_maxrss * 1024, "summary": summary}


def dscoder(src: Path | None) -> tuple[list[str], dict]:
    env = dict(os.environ)
    env.setdefault("DSCODER_BENCHMARKS_DIR", str(ROOT.parent / "shared" / "benchmarks"))
    if src is not None:
        env["PYTHONPATH"] = str(src)
    return [sys.executable, "-m", "dscoder_cli"], env


def same_outputs(a: Path, b: Path) -> bool:
    """Every data file (shards, rejected rows, token files, the tokenizer) byte-identical."""
    def files(root: Path) -> list[str]:
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()
                      and "_dscoder" not in p.parts)
    fa, fb = files(a), files(b)
    return fa == fb and all(filecmp.cmp(a / f, b / f, shallow=False) for f in fa)


def n_shards(folder: Path) -> int:
    return len(list(folder.glob("part-*.parquet"))) or len(list(folder.glob("part-*.idx")))


def source_list(corpus: str, out: Path) -> Path:
    listing = out / f"{corpus}-repos.txt"
    argv = [sys.executable, str(ROOT / "scripts" / "demo_sources.py"), str(listing)]
    if corpus == "site":
        argv.append("--site-packages")
    subprocess.run(argv, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return listing


# The machine's own ceiling, measured in the same run: the same work in 1 process, then in 2 at once.
_CEILING = """
import os, sys, time
import numpy as np

def python_work():  # interpreter-bound: what topo-sort's and the filters' Python loops are
    x = 0
    for i in range(6_000_000):
        x += i * i % 7

def memory_work():  # streams 160 MB arrays: what hashing, (de)compressing and copying texts are
    a = np.arange(20_000_000, dtype=np.uint64)
    b = np.empty_like(a)
    for _ in range(6):
        np.multiply(a, np.uint64(0x9E3779B97F4A7C15), out=b)
        np.right_shift(b, np.uint64(7), out=b)
        int(b[::7].sum())

work = {"python": python_work, "memory": memory_work}[sys.argv[1]]
best = {}
for n in (1, 2, 1, 2, 1, 2):
    t = time.monotonic()
    pids = []
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            work()
            os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
    best[n] = min(best.get(n, 1e9), time.monotonic() - t)
print(2 * best[1] / best[2])
"""


def machine_ceiling() -> dict[str, float]:
    """How much more work 2 processes do than 1 on this machine (2.0: two free cores), for
    interpreter-bound and for memory-streaming work. A stage's --workers 2 speed-up cannot beat the
    ceiling of the work it does: a VM whose cores share memory bandwidth with other tenants gives
    far less than 2 on the second kind."""
    out = {}
    for kind in ("python", "memory"):
        done = subprocess.run([sys.executable, "-c", _CEILING, kind], capture_output=True, text=True, check=True)
        out[kind] = float(done.stdout.strip())
    return out


def stage_seconds(summary: dict) -> float | None:
    """Seconds inside the stage (its runner, all phases): the wall time less the interpreter's
    start and exit (~0.6 s a command here), which no --workers can shorten."""
    if summary.get("phases"):
        return sum(summary["phases"].values())
    return (summary.get("this_run") or {}).get("seconds")


def bench_corpus(corpus: str, out: Path, stages: list[str], src: Path | None, benchmarks: str,
                 repeat: int = 3) -> dict:
    base, env = dscoder(src)
    folder = out / corpus
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    repos = source_list(corpus, folder)
    results: dict[str, dict] = {}

    def stage(name: str, argv: list[str], inp: Path, label: str | None = None) -> dict:
        label = label or name
        runs: dict[int, list[dict]] = {1: [], 2: []}
        for attempt in range(repeat):
            # Short runs are repeated (best of `repeat`, as timeit does): on a shared 2-core VM one
            # run of a few seconds varies by +-15%. A run over REPEAT_BELOW seconds is run once.
            if attempt and runs[1][0]["wall"] >= REPEAT_BELOW:
                break
            for workers in (1, 2):
                dest = folder / f"{label}-w{workers}"
                shutil.rmtree(dest, ignore_errors=True)
                cmd = base + [argv[0], str(inp), str(dest)] + argv[1:] + [
                    "--workers", str(workers), "--json"]
                run = run_measured(cmd, env, folder / f"{label}-w{workers}.log")
                runs[workers].append(run)
                print(f"  {corpus} {label} --workers {workers}: {run['wall']:.1f}s, "
                      f"peak RSS {run['rss'] / GIB:.2f} GiB (load {load()})", flush=True)
        # The best wall time of each worker count, with the highest peak RSS of any of its runs.
        got = {w: {**min(rs, key=lambda r: r["wall"]), "rss": max(r["rss"] for r in rs)} for w, rs in runs.items()}
        walls = {w: [r["wall"] for r in rs] for w, rs in runs.items()}
        s1 = got[1]["summary"]
        mb = (s1.get("bytes_in") or 0) / 1e6
        inner = {w: stage_seconds(got[w]["summary"]) for w in (1, 2)}
        row = {"mb_in": mb, "wall_w1": got[1]["wall"], "wall_w2": got[2]["wall"],
               "walls_w1": walls[1], "walls_w2": walls[2],
               "stage_s_w1": inner[1], "stage_s_w2": inner[2],
               "stage_speedup": inner[1] / inner[2] if inner[1] and inner[2] else None,
               "rss_w1": got[1]["rss"], "rss_w2": got[2]["rss"],
               "mb_s_core_w1": mb / got[1]["wall"], "mb_s_core_w2": mb / got[2]["wall"] / 2,
               "speedup": got[1]["wall"] / got[2]["wall"],
               "identical": same_outputs(folder / f"{label}-w1", folder / f"{label}-w2"),
               "input_shards": n_shards(inp) if inp.is_dir() else None,
               "output_shards": n_shards(folder / f"{label}-w1"),
               "units": s1.get("shards_total")}
        results[label] = row
        return row

    # crawl with its defaults (its parallelism: groups of repositories), then the chain's input as
    # one shard, so every later stage has to split a single shard into units itself.
    stage("crawl", ["crawl"], repos)
    single = folder / "files"
    got = run_measured(base + ["crawl", str(repos), str(single), "--shard-size", "100000", "--workers", "2",
                               "--json"], env, folder / "files.log")
    print(f"  {corpus} crawl as one shard (the chain's input): {got['wall']:.1f}s, "
          f"{n_shards(single)} shard", flush=True)
    outputs = {"files": single}
    for name in stages:
        inp_name, argv = STAGES[name]
        if name == "tokenize":  # the tokenizer is trained once (one process), then both runs use it
            trained = folder / "tokenizer-train"
            got = run_measured(base + ["tokenize", str(outputs[inp_name]), str(trained), "--train-tokenizer",
                                       "--tokenizer-only", "--json"], env, folder / "tokenizer-train.log")
            mb = float(json.loads((trained / "_dscoder" / "manifest.json").read_text())["options"]["tokenizer"]
                       ["train"]["sample_bytes"]) / 1e6
            results["tokenizer training"] = {"wall_w1": got["wall"], "rss_w1": got["rss"], "sample_mb": mb}
            print(f"  {corpus} tokenizer training (--train-tokenizer --tokenizer-only, default sample of up to "
                  f"{mb:,.0f} MB): {got['wall']:.1f}s, peak RSS {got['rss'] / GIB:.2f} GiB (load {load()})",
                  flush=True)
        argv = [a.replace("{benchmarks}", benchmarks).replace("{tokenizer}", str(folder / "tokenizer-train" / "tokenizer"))
                for a in argv]
        stage(name, argv, outputs[inp_name])
        outputs[name] = folder / f"{name}-w1"
    return results


def decontam_benchmarks() -> str:
    bench_dir = Path(os.environ.get("DSCODER_BENCHMARKS_DIR", ROOT.parent / "shared" / "benchmarks"))
    return "humaneval,mbpp" if bench_dir.is_dir() else "humaneval"


def _ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def report(results: dict[str, dict[str, dict]], load_start: str, load_end: str) -> list[str]:
    lines = [f"load average at start {load_start}, at end {load_end} (1/5/15 min; "
             f"{os.cpu_count()} cores)"]
    checks: list[tuple[str, bool]] = []
    for corpus, rows in results.items():
        lines.append("")
        lines.append(f"{corpus} corpus (load average {rows.get('_load', '?')}):")
        lines.append(f"  {'stage':<10} {'MB in':>7} {'shards in':>9} {'units':>5} {'w1 s':>7} {'w2 s':>7} "
                     f"{'MB/s/core w1':>12} {'w2':>6} {'RSS w1 GiB':>10} {'w2':>5} {'speed-up':>8} {'in-stage':>8} "
                     f"{'identical':>9}")
        for name, r in rows.items():
            if name.startswith("_"):
                continue
            if name == "tokenizer training":
                lines.append(f"  tokenizer training (one process, sample up to {r['sample_mb']:,.0f} MB): "
                             f"{r['wall_w1']:.1f}s, peak RSS {r['rss_w1'] / GIB:.2f} GiB")
                checks.append((f"{corpus} tokenizer training: peak RSS {r['rss_w1'] / GIB:.2f} GiB <= 1.5 GiB",
                               r["rss_w1"] <= TARGET_RSS))
                continue
            lines.append(f"  {name:<10} {r['mb_in']:>7.1f} {r['input_shards'] or '-':>9} {r['units'] or '-':>5} "
                         f"{r['wall_w1']:>7.1f} {r['wall_w2']:>7.1f} {r['mb_s_core_w1']:>12.2f} "
                         f"{r['mb_s_core_w2']:>6.2f} {r['rss_w1'] / GIB:>10.2f} {r['rss_w2'] / GIB:>5.2f} "
                         f"{r['speedup']:>8.2f} {_ratio(r.get('stage_speedup')):>8} {'yes' if r['identical'] else 'NO':>9}")
            checks.append((f"{corpus} {name}: workers 1 and 2 byte-identical", r["identical"]))
            checks.append((f"{corpus} {name}: peak RSS {max(r['rss_w1'], r['rss_w2']) / GIB:.2f} GiB <= 1.5 GiB",
                           max(r["rss_w1"], r["rss_w2"]) <= TARGET_RSS))
            if corpus == "site":
                checks.append((f"{corpus} {name}: speed-up {r['speedup']:.2f} >= {TARGET_SPEEDUP}",
                               r["speedup"] >= TARGET_SPEEDUP))
    if "demo" in results and "site" in results:
        lines.append("")
        lines.append("cost of the site corpus over the demo corpus (workers 1):")
        lines.append(f"  {'stage':<10} {'size ratio':>10} {'cost ratio':>10} {'cost/size':>9}")
        for name in [n for n in results["site"] if not n.startswith("_") and n != "tokenizer training"]:
            a, b = results["demo"].get(name), results["site"][name]
            if not a or not a["mb_in"] or not a["wall_w1"]:
                continue
            size, cost = b["mb_in"] / a["mb_in"], b["wall_w1"] / a["wall_w1"]
            lines.append(f"  {name:<10} {size:>10.2f} {cost:>10.2f} {cost / size:>9.2f}")
            checks.append((f"cost ratio {name}: {cost:.2f} <= {TARGET_COST} x size ratio {size:.2f}",
                           cost <= TARGET_COST * size))
    lines.append("")
    lines.append("targets:")
    lines += [f"  {'PASS' if ok else 'FAIL'}  {what}" for what, ok in checks]
    return lines


_PROBE = """
import json, resource, sys, time
from pathlib import Path
from stages.core.shards import plan_units
from stages.tokenize.tokenizer import sample_texts, train_bpe
folder, max_bytes, vocab = Path(sys.argv[1]), int(float(sys.argv[2])), int(sys.argv[3])
units = plan_units(folder, together=None)
taken = {"bytes": 0, "pieces": 0}
def counted(texts):
    for t in texts:
        taken["bytes"] += len(t.encode("utf-8", "surrogatepass"))
        taken["pieces"] += 1
        yield t
t0 = time.monotonic()
train_bpe(counted(sample_texts(units, max_bytes, 0, None)), vocab)
print(json.dumps({"text_mb": taken["bytes"] / 1e6, "pieces": taken["pieces"], "train_s": time.monotonic() - t0,
                  "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def tokenizer_memory(sizes_mb: list[float], out: Path, src: Path | None, inp: Path | None,
                     vocab: int = 32000) -> list[dict]:
    """Peak RSS of tokenizer training on N MB of text: what `tokenize --train-tokenizer
    --tokenizer-sample-mb N` runs in its child (the stage's sample of whole documents, fed in
    newline-cut pieces, to the library's BPE trainer), on `inp` (default: the site corpus crawled
    into shards, crawled first when missing). An input smaller than N MB is taken whole: the text
    actually trained on is printed."""
    base, env = dscoder(src)
    if inp is None:
        inp = out / "site" / "crawl-w1"
        if not inp.is_dir():
            repos = source_list("site", out)
            run_measured(base + ["crawl", str(repos), str(inp), "--workers", "2", "--json"], env,
                         out / "tokenizer-crawl.log")
    rows = []
    for mb in sizes_mb:
        log = out / f"tokenizer-{mb:g}MB.log"
        got = run_measured([sys.executable, "-c", _PROBE, str(inp), str(mb * 1e6), str(vocab)], env, log)
        s = got["summary"]
        row = {"asked_mb": mb, **s, "wall": got["wall"], "load": load()}
        rows.append(row)
        print(f"tokenizer training, vocab {vocab:,}, asked {mb:g} MB: trained on {s['text_mb']:.0f} MB "
              f"({s['pieces']:,} pieces) in {s['train_s']:.0f}s, peak RSS {s['peak_rss'] / GIB:.2f} GiB "
              f"(load {row['load']})", flush=True)
    (out / "tokenizer-memory.json").write_text(json.dumps(rows, indent=2))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpora", default="demo,site")
    ap.add_argument("--stages", default=",".join(STAGES))
    ap.add_argument("--out", type=Path, default=ROOT / "bench-scale-out")
    ap.add_argument("--src", type=Path, default=None, help="run this checkout's code instead (PYTHONPATH)")
    ap.add_argument("--tokenizer-memory", default=None, help="MB of training text, e.g. 100,1000")
    ap.add_argument("--tokenizer-input", type=Path, default=None, help="shards to train on (default: site crawl)")
    ap.add_argument("--repeat", type=int, default=3,
                    help=f"runs of each stage under {REPEAT_BELOW:g} s (the best counts; default 3)")
    ap.add_argument("--with-earlier", action="store_true",
                    help="report the corpora not run now from OUT/results.json (an earlier run, its load shown)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.tokenizer_memory:
        tokenizer_memory([float(x) for x in args.tokenizer_memory.split(",")], args.out, args.src,
                         args.tokenizer_input)
        return
    start = load()
    print(f"bench-scale: load average {start} on {os.cpu_count()} cores", flush=True)
    ceiling = machine_ceiling()
    print(f"machine ceiling: 2 processes do {ceiling['python']:.2f}x the work of one (interpreter-bound), "
          f"{ceiling['memory']:.2f}x (memory-streaming)", flush=True)
    stages = [s for s in args.stages.split(",") if s]
    results = {c: bench_corpus(c, args.out, stages, args.src, decontam_benchmarks(), max(1, args.repeat))
               for c in args.corpora.split(",") if c}
    end = load()
    for r in results.values():
        r["_load"] = f"{start} .. {end}"
    earlier = args.out / "results.json"
    if args.with_earlier and earlier.is_file():  # e.g. the demo corpus, measured before the site one
        before = json.loads(earlier.read_text())["results"]
        results = {**{c: rows for c, rows in before.items() if c not in results}, **results}
    lines = report(results, start, end)
    lines.insert(0, f"machine ceiling of --workers 2 (same run): {ceiling['python']:.2f}x interpreter-bound work, "
                    f"{ceiling['memory']:.2f}x memory-streaming work")
    print("\n".join(lines))
    earlier.write_text(json.dumps({"results": results, "load_start": start, "load_end": end,
                                   "machine_ceiling": ceiling}, indent=2))


if __name__ == "__main__":
    main()
