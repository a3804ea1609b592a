"""The program that is executed for a task and a completion, assembled the way DeepSeek-Coder's
`Evaluation/` scripts assemble it (docs/eval.md, Programs and verdicts).

A completion is stored as the text the model produced after the prompt, cut at the first stop word
(``sanitize.py``); the program is then:

=============  ======================================================================================
humaneval      imports + prompt + "\\n" + completion + "\\n" + test + check(entry_point)
humaneval-X    prompt + "\\n" + completion + "\\n" + tests  (MultiPL-E; passes when it exits 0)
mbpp           imports + completion + "\\n" + test setup + the three asserts
humaneval-fim  prefix + completion + suffix + "\\n" + test + check(entry_point)  (exact splice)
leetcode       imports + code + "\\n" + test (``my_solution = Solution()`` and its 100 asserts)
pal-math       program + the answer statement: ``str(solution())`` printed after ``ANSWER_TAG``
ds1000         code_context + ``code = repr(completion)`` + ``test_execution(code)`` [+ test_string]
=============  ======================================================================================

(santacoder-fim is not executed: exact match of the line.)

An instruct model's completion (``full`` records) is the whole code extracted from its answer, and
the prompt is not prepended.
"""

from __future__ import annotations

import functools
import re

from .benchmarks import Benchmark, Task

# DeepSeek's IMPORT_HELPER["python"], prepended to every Python program to supply imports a
# completion forgot. Only the lines whose names the program's text mentions are emitted (a line
# binding names the program never refers to cannot change what it does): importing all of them
# eagerly, numpy above all (~0.1 s), would dominate execution time (docs/eval.md: 11 exec/s
# instead of 55 with every line).
PYTHON_IMPORT_HELPER = ["import math", "import re", "import sys", "import copy", "import datetime",
                        "import itertools", "import collections", "import heapq", "import functools",
                        "import hashlib", "import numpy", "import numpy as np", "import string",
                        "from typing import *", "from collections import *"]

# Evaluation/LeetCode/human_eval/evaluation.py: the same helper plus `from functools import *`.
LEETCODE_IMPORT_HELPER = PYTHON_IMPORT_HELPER + ["from functools import *"]
ANSWER_TAG = "dscoder-answer:"  # PAL-Math: the line that carries str(solution()) (JSON-encoded)
ANSWER_STATEMENT = ('dscoder_answer = str(solution())\n'
                    '__import__("os").write(1, ("\\n' + ANSWER_TAG + '" + __import__("json").dumps(dscoder_answer)'
                    ' + "\\n").encode())\n')

CPP_INCLUDES = ["#include<stdlib.h>", "#include<algorithm>", "#include<math.h>", "#include<stdio.h>",
                "#include<vector>", "#include<string>", "#include<climits>", "#include<cstring>",
                "#include<iostream>", "#include<cassert>"]


@functools.lru_cache(maxsize=None)
def _star_names(module: str) -> frozenset:
    import importlib
    mod = importlib.import_module(module)
    return frozenset(getattr(mod, "__all__", [n for n in dir(mod) if not n.startswith("_")]))


def python_import_prefix(code: str, helper: list[str] = PYTHON_IMPORT_HELPER) -> str:
    """The lines of `helper` (PYTHON_IMPORT_HELPER) that bind a name appearing in `code`."""
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", code))
    lines = []
    for line in helper:
        if line.startswith("from "):
            needed = bool(words & _star_names(line.split()[1]))
        else:
            needed = line.split()[-1] in words
        if needed:
            lines.append(line)
    return "".join(line + "\n" for line in lines)


def program_parts(bench: Benchmark, task: Task, completion: str, full: bool = False) -> tuple[str, str]:
    """(code, tests): the program of the module docstring cut where its tests begin, so that the
    verdict machinery can add its statements around them (``verdicts.instrument``)."""
    kind, lang = bench.spec.kind, task.language
    if kind == "mbpp":
        tests = (task.test_setup + "\n" if task.test_setup else "") + "\n".join(task.test_list) + "\n"
        code = completion + "\n"
        return python_import_prefix(code + tests) + code, tests
    if kind == "fim":
        return task.prompt + completion + task.suffix + "\n", task.tests + "\n" + f"check({task.entry_point})\n"
    if kind == "leetcode":
        code = completion + "\n"
        tests = task.tests + "\n"
        return python_import_prefix(code + tests, LEETCODE_IMPORT_HELPER) + code, tests
    if kind == "pal":
        return completion + "\n", ANSWER_STATEMENT
    if kind == "ds1000":
        return ds1000_program(task, completion)
    code = completion if full else task.prompt + "\n" + completion
    if lang == "python":
        check = f"\ncheck({task.entry_point})\n" if task.entry_point else "\n"
        tests = task.tests + check
        return python_import_prefix(code + "\n" + tests) + code + "\n", tests
    if lang == "cpp":
        missing = "".join(s + "\n" for s in CPP_INCLUDES if s not in task.prompt)
        return missing + "\n" + code + "\n", task.tests
    if lang == "php":
        if not code.startswith("<?php"):
            code = "<?php\n" + code
        return code + "\n", task.tests + "?>"
    return code + "\n", task.tests


def ds1000_program(task: Task, completion: str) -> tuple[str, str]:
    """test_ds1000.py's program, cut before the call of its tests."""
    context = task.tests  # code_context
    calls = "test_execution(code)\n" + ("test_string(code)\n" if "test_string(" in context else "\n")
    return context + "\n" + f"code = {completion!r}\n", calls


def assemble_program(bench: Benchmark, task: Task, completion: str, full: bool = False) -> str:
    """The source file to execute (see the module docstring), without the verdict's statements."""
    return "".join(program_parts(bench, task, completion, full))
