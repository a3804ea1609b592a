"""Prompts, stop words and program assembly follow DeepSeek-Coder's evaluation scripts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from eval_test_helpers import SHARED_BENCHMARKS, needs_data  # noqa: E402

from stages.eval.benchmarks import load_benchmark  # noqa: E402
from stages.eval.programs import assemble_program, python_import_prefix  # noqa: E402
from stages.eval.prompts import FIM_BEGIN, FIM_END, FIM_HOLE, model_prompt  # noqa: E402
from stages.eval.sanitize import PYTHON_STOP, clean_completion, extract_instruct_code, stop_words  # noqa: E402


def test_humaneval_prompt_and_stops():
    b = load_benchmark("humaneval")
    t = b.tasks[0]
    assert len(b.tasks) == 164 and t.task_id == "HumanEval/0"
    assert model_prompt(b, t) == t.prompt.strip()
    assert stop_words(b, t) == PYTHON_STOP
    raw = "\n    return True\n\ndef other():\n    pass"
    assert clean_completion(b, t, raw) == "\n    return True\n"
    program = assemble_program(b, t, "    return True\n")
    assert program.endswith("check(has_close_elements)\n") and t.prompt + "\n    return True\n" in program


@needs_data
def test_mbpp_protocol():
    b = load_benchmark("mbpp", SHARED_BENCHMARKS)
    assert len(b.tasks) == 500 and b.tasks[0].task_id == "MBPP/11" and b.tasks[-1].task_id == "MBPP/510"
    assert [r["task_id"] for r in b.few_shot] == [2, 3, 4]
    p = model_prompt(b, b.tasks[0])
    assert p.count("[BEGIN]") == 4 and p.count("[DONE]") == 3 and p.endswith("[BEGIN]")
    assert p.startswith("You are an expert Python programmer, and here is your task: ")
    assert stop_words(b, b.tasks[0]) == ["[DONE]"]
    assert clean_completion(b, b.tasks[0], "\ndef f():\n    return 1\n[DONE]\nmore") == "def f():\n    return 1"
    program = assemble_program(b, b.tasks[0], b.tasks[0].canonical_solution)
    assert all(a in program for a in b.tasks[0].test_list)


@needs_data
def test_multipl_e_and_fim_prompts():
    ts = load_benchmark("humaneval-ts", SHARED_BENCHMARKS)
    assert len(ts.tasks) == 159
    assert "\nexport" in stop_words(ts, ts.tasks[0]) and "\nfunction " in stop_words(ts, ts.tasks[0])
    cpp = load_benchmark("humaneval-cpp", SHARED_BENCHMARKS)
    assert stop_words(cpp, cpp.tasks[0]) == ["\n}"]
    assert clean_completion(cpp, cpp.tasks[0], "\n    return 1;\n}\nint x;") == "\n    return 1;"
    fim = load_benchmark("humaneval-fim", SHARED_BENCHMARKS)
    t = fim.tasks[0]
    assert len(fim.tasks) == 1033
    assert model_prompt(fim, t) == f"{FIM_BEGIN}{t.prompt}{FIM_HOLE}{t.suffix}{FIM_END}"
    assert clean_completion(fim, t, "    for x in y:\n        more") == "    for x in y:\n"
    assert assemble_program(fim, t, t.canonical_solution).startswith(t.prompt + t.canonical_solution + t.suffix)


def test_import_prefix_only_what_is_used():
    assert python_import_prefix("x = np.array([1])") == "import numpy as np\n"
    prefix = python_import_prefix("def f(a: List[int]) -> int:\n    return math.floor(Counter(a)[0])")
    assert set(prefix.splitlines()) == {"import math", "from typing import *", "from collections import *"}
    assert python_import_prefix("print(1)") == ""


def test_instruct_extraction():
    b = load_benchmark("humaneval")
    t = b.tasks[2]  # truncate_number
    answer = ("Sure:\n```python\ndef truncate_number(number: float) -> float:\n    return number % 1.0\n```\n"
              "Hope it helps")
    code = extract_instruct_code(b, t, answer)
    assert "def truncate_number(number: float) -> float:\n    return number % 1.0" in code
    assert "Sure" not in code and "Hope it helps" not in code and "```" not in code  # only the code block
    messages = model_prompt(b, t, instruct=True)
    assert messages[0]["role"] == "user" and "```python\n" + t.prompt.strip() + "\n```" in messages[0]["content"]
