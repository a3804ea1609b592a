"""`dscoder eval`: generate completions, execute them in the sandbox, score pass@k.

Output layout (one folder per benchmark; every JSONL is appended one flushed line per sample, so a
killed run loses at most the line being written, and a re-run skips what is there):

    OUTPUT/<benchmark>/manifest.json      the generation and execution options (a re-run with other
                                          options is refused; --overwrite starts over)
    OUTPUT/<benchmark>/generations.jsonl  task_id, sample, completion, full, raw (model output)
    OUTPUT/<benchmark>/results.jsonl      task_id, sample, status, passed, reason, exit_code, seconds
    OUTPUT/summary.json                   pass@k, statuses and skips per benchmark; sandbox notes
    OUTPUT/_model-hf/                     a dscoder checkpoint exported to HF format (when given one)

The two steps are independent: `--steps generate` only generates, `--steps execute` only executes
what was generated (e.g. on another machine with the toolchains).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Callable, Optional

from stages.core.atomic import write_json_atomic
from stages.core.benchmark_data import read_jsonl
from stages.core.errors import DscoderError, UsageError
from stages.core.output import OutputKind, open_output, refuse_changed

from .benchmarks import Benchmark, load_benchmark, load_benchmark_file
from .config import EvalConfig
from .passk import scores
from .programs import assemble_program
from .prompts import FIM_BEGIN, FIM_END, FIM_HOLE, model_prompt
from .sanitize import clean_completion, stop_words

SUMMARY = "summary.json"
MANIFEST = "manifest.json"


def _is_eval_output(root: Path) -> bool:
    return (root / SUMMARY).exists() or any(root.glob(f"*/{MANIFEST}"))


EVAL_OUTPUT = OutputKind("dscoder eval output", is_ours=_is_eval_output)


def _log_default(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] eval: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------- JSONL
def read_records(path: Path) -> list[dict]:
    """The complete lines of an append-only JSONL; a torn last line (killed writer) is cut off."""
    if not path.exists():
        return []
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with open(path, "r+b") as f:
            f.truncate(end)
        data = data[:end]
    out = []
    for line in data.splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out


class Appender:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.f = open(path, "a", encoding="utf-8")

    def write(self, record: dict) -> None:
        self.f.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.f.flush()

    def close(self) -> None:
        os.fsync(self.f.fileno())
        self.f.close()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------------------- run
class Evaluation:
    def __init__(self, cfg: EvalConfig, log: Callable[[str], None] = _log_default):
        cfg.validate()
        self.cfg = cfg
        self.log = log
        self.out = Path(cfg.output)
        self.backend = None
        self.model_path: Optional[Path] = None
        self.stats = {"generated": 0, "executed": 0}
        self._output = None  # the opened OUTPUT, locked for this run (one writer)

    # -- benchmarks and options ------------------------------------------------------------
    def load(self) -> list[Benchmark]:
        benches = []
        for name in self.cfg.benchmarks:
            try:
                benches.append(load_benchmark(name, self.cfg.benchmarks_dir))
            except UsageError as exc:
                raise UsageError(f"{exc} (see docs/eval.md)") from None
        for path in self.cfg.benchmark_files:
            try:
                benches.append(load_benchmark_file(Path(path)))
            except (OSError, ValueError) as exc:
                raise UsageError(f"--benchmark-file {path}: {exc}") from None
        names = [b.name for b in benches]
        if len(set(names)) != len(names):
            raise UsageError(f"a benchmark is named twice: {', '.join(names)}")
        for b in benches:
            if self.cfg.limit is not None:
                b.tasks = b.tasks[:self.cfg.limit]
        return benches

    def generation_options(self, bench: Benchmark) -> dict:
        c = self.cfg
        if c.generations is not None:
            return {"source": "file", "file": str(Path(c.generations).resolve()), "sha256": _sha256(c.generations)}
        return {"source": "model", "model": str(Path(c.model).resolve()), "n_samples": c.n_samples,
                "temperature": c.temperature, "top_p": c.top_p if c.temperature > 0 else None,
                "max_new_tokens": self.max_new_tokens(bench), "max_input_tokens": c.max_input_tokens,
                "instruct": c.instruct, "seed": c.seed, "data": bench.source}

    def execution_options(self, bench: Benchmark) -> dict:
        return {"timeout": self.cfg.timeout, "data": bench.source}

    def max_new_tokens(self, bench: Benchmark) -> int:
        if self.cfg.max_new_tokens:
            return self.cfg.max_new_tokens
        return bench.spec.instruct_max_new_tokens if self.cfg.instruct else bench.spec.max_new_tokens

    def prepare_output(self) -> None:
        c = self.cfg
        self._output = open_output(self.out, EVAL_OUTPUT, overwrite=c.overwrite, lock="writer", log=self.log,
                                   inputs=[c.generations, c.model, c.benchmarks_dir, *c.benchmark_files])

    def check_manifest(self, bench: Benchmark) -> None:
        folder = self.out / bench.name
        path = folder / MANIFEST
        current = {"benchmark": bench.name}
        if "generate" in self.cfg.steps:
            current["generation"] = self.generation_options(bench)
        if "execute" in self.cfg.steps:
            current["execution"] = self.execution_options(bench)
        old = json.loads(path.read_text()) if path.exists() else {}
        for part in ("generation", "execution"):
            if part in current and part in old:
                refuse_changed(folder, old[part], current[part], what=f"{part} options")
        if "execute" in self.cfg.steps and "generate" not in self.cfg.steps and "generation" not in old:
            if not (folder / "generations.jsonl").exists():
                raise UsageError(f"{folder}: nothing generated yet; run with --steps generate first")
        write_json_atomic(path, {**old, **current})

    # -- generation ----------------------------------------------------------------------------
    def generate(self, bench: Benchmark, file_records: Optional[dict]) -> Optional[str]:
        """Fill OUTPUT/<bench>/generations.jsonl; a skip reason or None."""
        path = self.out / bench.name / "generations.jsonl"
        have = {(r["task_id"], r["sample"]) for r in read_records(path)}
        if file_records is not None:
            return self._import_generations(bench, path, have, file_records)
        if bench.spec.kind == "fim" and not self._backend().has_tokens(FIM_BEGIN, FIM_HOLE, FIM_END):
            return "skipped: the model's tokenizer has no FIM tokens"
        todo = [(t, s) for t in bench.tasks for s in range(self.cfg.n_samples) if (t.task_id, s) not in have]
        if not todo:
            return None
        backend = self._backend()
        from .generate import Request, sample_seed
        max_new = self.max_new_tokens(bench)
        self.log(f"{bench.name}: generating {len(todo)} samples ({len(have)} already done) with {backend.name}")
        writer = Appender(path)
        t0 = time.monotonic()
        try:
            chunk = max(self.cfg.batch_size, 1)
            for i in range(0, len(todo), chunk):
                part = todo[i:i + chunk]
                requests = [Request(model_prompt(bench, t, self.cfg.instruct), stop_words(bench, t, self.cfg.instruct),
                                    max_new, sample_seed(self.cfg.seed, t.task_id, s)) for t, s in part]
                texts = backend.generate(requests)
                for (task, sample), raw in zip(part, texts):
                    writer.write({"task_id": task.task_id, "sample": sample,
                                  "completion": clean_completion(bench, task, raw, self.cfg.instruct),
                                  "full": bool(self.cfg.instruct and bench.spec.kind != "fim"), "raw": raw})
                    self.stats["generated"] += 1
                done = min(i + chunk, len(todo))
                rate = done / max(time.monotonic() - t0, 1e-9)
                self.log(f"{bench.name}: generated {done}/{len(todo)} ({rate:.2f} samples/s)")
        finally:
            writer.close()
        return None

    def _import_generations(self, bench: Benchmark, path: Path, have: set, records: dict) -> Optional[str]:
        mine = records.get(bench.name, [])
        known = {t.task_id for t in bench.tasks}
        rows = [r for r in mine if r["task_id"] in known]
        if not rows:
            return "skipped: no generation in --generations for its tasks"
        writer = Appender(path)
        seen: Counter = Counter()
        try:
            for r in rows:
                sample = r.get("sample", seen[r["task_id"]])
                seen[r["task_id"]] += 1
                if (r["task_id"], sample) in have:
                    continue
                if "completion" in r:
                    completion, full = r["completion"], bool(r.get("full", False))
                else:  # DeepSeek's scripts' files: `generation` is prompt + "\n" + completion
                    completion, full = r["generation"], True
                writer.write({"task_id": r["task_id"], "sample": sample, "completion": completion, "full": full})
                self.stats["generated"] += 1
        finally:
            writer.close()
        return None

    def _backend(self):
        if self.backend is None:
            from .generate import SamplingOptions, make_backend, resolve_model
            try:
                self.model_path = resolve_model(Path(self.cfg.model), self.out / "_model-hf", self.log)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            sampling = SamplingOptions(temperature=self.cfg.temperature, top_p=self.cfg.top_p, seed=self.cfg.seed,
                                       max_input_tokens=self.cfg.max_input_tokens)
            try:
                self.backend = make_backend(self.cfg.backend, self.model_path, sampling, self.cfg.batch_size,
                                            self.cfg.device)
            except OSError as exc:
                raise UsageError(f"--model {self.cfg.model}: cannot load: {exc}") from None
            except ValueError as exc:  # vLLM missing, or a model transformers cannot build
                raise DscoderError(str(exc)) from None
        return self.backend

    # -- execution ------------------------------------------------------------------------------
    def execute(self, bench: Benchmark, executor_factory) -> Optional[str]:
        from .execute import Job, detect_toolchain
        folder = self.out / bench.name
        missing = detect_toolchain(bench.language)
        if missing:
            return f"skipped: {missing}"
        tasks = {t.task_id: t for t in bench.tasks}
        gens = [g for g in read_records(folder / "generations.jsonl") if g["task_id"] in tasks]
        path = folder / "results.jsonl"
        have = {(r["task_id"], r["sample"]) for r in read_records(path)}
        todo = [g for g in gens if (g["task_id"], g["sample"]) not in have]
        if not todo:
            return None
        self.log(f"{bench.name}: executing {len(todo)} programs ({len(have)} already done)")
        jobs = (Job((g["task_id"], g["sample"]), bench.language,
                    assemble_program(bench, tasks[g["task_id"]], g["completion"], g.get("full", False)),
                    self.cfg.timeout) for g in todo)
        writer = Appender(path)
        t0 = time.monotonic()
        n = 0
        try:
            for res in executor_factory().map(jobs):
                task_id, sample = res.pop("key")
                writer.write({"task_id": task_id, "sample": sample, **res})
                n += 1
                self.stats["executed"] += 1
                if n % 100 == 0 or n == len(todo):
                    self.log(f"{bench.name}: executed {n}/{len(todo)} ({n / (time.monotonic() - t0):.1f}/s)")
        finally:
            writer.close()
        return None

    # -- summary --------------------------------------------------------------------------------
    def bench_summary(self, bench: Benchmark, skip: Optional[str]) -> dict:
        folder = self.out / bench.name
        # Only this run's tasks: an earlier run with a larger --limit may have left more behind.
        ids = {t.task_id for t in bench.tasks}
        gens = [g for g in read_records(folder / "generations.jsonl") if g["task_id"] in ids]
        results = [r for r in read_records(folder / "results.jsonl") if r["task_id"] in ids]
        per_task: dict[str, list[bool]] = defaultdict(list)
        for r in results:
            per_task[r["task_id"]].append(bool(r["passed"]))
        counts = [(len(v), sum(v)) for v in per_task.values()]
        summary = {"language": bench.language, "tasks": len(bench.tasks), "generated": len(gens),
                   "executed": len(results), "tasks_executed": len(per_task),
                   "statuses": dict(sorted(Counter(r["status"] for r in results).items())),
                   **scores(counts, self.cfg.ks)}
        if skip:
            summary["skipped"] = skip
        return summary

    def run(self) -> dict:
        try:
            return self._run()
        finally:
            if self._output is not None:
                self._output.release()

    def _run(self) -> dict:
        from .execute import Executor
        from .sandbox import capabilities
        t0 = time.monotonic()
        benches = self.load()
        self.prepare_output()
        for b in benches:
            self.check_manifest(b)
        file_records = self._read_generation_file(benches) if self.cfg.generations else None
        executor = None

        def executor_factory():
            nonlocal executor
            if executor is None:
                executor = Executor(self.cfg.workers)
            return executor

        skips: dict[str, Optional[str]] = {}
        try:
            for b in benches:
                skip = None
                if "generate" in self.cfg.steps:
                    skip = self.generate(b, file_records)
                if skip is None and "execute" in self.cfg.steps:
                    skip = self.execute(b, executor_factory)
                skips[b.name] = skip
                if skip:
                    self.log(f"{b.name}: {skip}")
        finally:
            if executor is not None:
                executor.close()
        caps = capabilities()
        summary = self._write_summary(benches, skips, caps, time.monotonic() - t0)
        return summary

    def _read_generation_file(self, benches: list[Benchmark]) -> dict:
        try:
            rows = read_jsonl(Path(self.cfg.generations))
        except (OSError, json.JSONDecodeError) as exc:
            raise UsageError(f"--generations {self.cfg.generations}: {exc}") from None
        bad = [i for i, r in enumerate(rows) if "task_id" not in r or ("completion" not in r and "generation" not in r)]
        if bad:
            raise UsageError(f"--generations {self.cfg.generations}: line {bad[0] + 1} lacks task_id and "
                                 "completion")
        by_bench: dict[str, list[dict]] = defaultdict(list)
        names = [b.name for b in benches]
        for r in rows:
            if "benchmark" in r:
                by_bench[r["benchmark"]].append(r)
            elif len(names) == 1:
                by_bench[names[0]].append(r)
            else:
                raise UsageError("--generations with several benchmarks: each line needs a `benchmark` field")
        return by_bench

    def _write_summary(self, benches: list[Benchmark], skips: dict, caps: dict, seconds: float) -> dict:
        path = self.out / SUMMARY
        old = json.loads(path.read_text()) if path.exists() else {}
        per_bench = dict(old.get("benchmarks", {}))
        for b in benches:
            per_bench[b.name] = self.bench_summary(b, skips.get(b.name))
        summary = {"stage": "eval", "output": str(self.out),
                   "model": str(self.cfg.model) if self.cfg.model else None,
                   "generations": str(self.cfg.generations) if self.cfg.generations else None,
                   "benchmarks": per_bench,
                   "sandbox": {k: caps[k] for k in ("network_isolated", "landlock_abi", "uid_per_worker", "notes")},
                   "this_run": {**self.stats, "seconds": round(seconds, 2)}}
        write_json_atomic(path, summary)
        return summary


def run_eval(cfg: EvalConfig, log: Callable[[str], None] = _log_default) -> dict:
    return Evaluation(cfg, log).run()

