"""The paper's other tables (issue #19): reference answers score what they must, wrong ones fail.

santacoder-fim (Table 6): all 4,792 canonical lines match exactly (no execution); one changed character
fails. Infilling multi-line / random-span: canonical middles pass under both protocols (sampled here:
every 194th multi-line task, every 55th random-span task, every 16th light task; the full sets were run
once by hand, docs/eval.md). PAL-Math (Table 8): a program returning the gold answer passes on every
set (GSM-Hard's own `code`), a wrong one fails. LeetCode (Table 5): hand-written solutions pass, wrong
ones fail.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from eval_test_helpers import SHARED_BENCHMARKS, needs_data, read_jsonl, skip_without, write_jsonl  # noqa: E402

from stages.eval.benchmarks import load_benchmark  # noqa: E402


def _run(cli, out, gens, bench, *extra):
    return cli.json("eval", out, "--generations", gens, "--benchmarks", bench, "--data", SHARED_BENCHMARKS,
                    *extra)["benchmarks"][bench]


@needs_data
def test_santacoder_fim_all_4792_canonical_lines_match_and_one_character_fails(cli, tmp_path):
    b = load_benchmark("santacoder-fim", SHARED_BENCHMARKS)
    assert len(b.tasks) == 4792 and len({t.task_id for t in b.tasks}) == 4792
    rows = [{"task_id": t.task_id, "completion": t.canonical_solution} for t in b.tasks]
    changed = next(i for i, t in enumerate(b.tasks) if t.group == "java" and len(t.canonical_solution.strip()) > 10)
    s = _run(cli, tmp_path / "canon", write_jsonl(tmp_path / "canon.jsonl", rows), "santacoder-fim")
    assert s["protocol"] == "exact_match" and s["pass@1"] == 1.0 and s["tasks_executed"] == 4792
    assert {g: (v["tasks"], v["pass@1"], v["edit_similarity"]) for g, v in s["groups"].items()} == \
        {"py": (1043, 1.0, 100), "java": (1780, 1.0, 100), "js": (1969, 1.0, 100)}
    assert s["mean"] == 1.0 and s["paper"]["pass@1"]["6.7b"] == 80.7
    # the model's raw output form: a newline first, then the line (hm_fim takes the second line)
    rows[0]["completion"] = "\n" + rows[0]["completion"] + "\nmore code"
    line = rows[changed]["completion"]
    k = len(line) - len(line.lstrip())
    rows[changed]["completion"] = line[:k] + chr(ord(line[k]) + 1) + line[k + 1:]
    s = _run(cli, tmp_path / "changed", write_jsonl(tmp_path / "changed.jsonl", rows), "santacoder-fim")
    assert s["statuses"] == {"passed": 4791, "wrong_answer": 1}
    assert s["groups"]["java"]["pass@1"] == 1 - 1 / 1780 and s["groups"]["py"]["pass@1"] == 1.0
    bad = [r for r in read_jsonl(tmp_path / "changed" / "santacoder-fim" / "results.jsonl") if not r["passed"]]
    assert [r["task_id"] for r in bad] == [b.tasks[changed].task_id] and 0 < bad[0]["edit_similarity"] < 100


@needs_data
@pytest.mark.parametrize("bench,step,total", [("humaneval-fim-multiline", 194, 5815),
                                              ("humaneval-fim-randomspan", 55, 1640),
                                              ("humaneval-fim-randomspan-light", 16, 164)])
def test_infilling_canonical_middles_pass_under_both_protocols(cli, tmp_path, bench, step, total):
    skip_without("python")
    b = load_benchmark(bench, SHARED_BENCHMARKS)
    assert len(b.tasks) == total
    sample = b.tasks[::step]
    rows = [{"task_id": t.task_id, "completion": t.canonical_solution} for t in sample]
    s = _run(cli, tmp_path / "o", write_jsonl(tmp_path / "g.jsonl", rows), bench)
    assert s["tasks_executed"] == len(sample) and s["without_generation"] and s["verdicts_differ"] == []
    for protocol in ("strict", "deepseek"):
        assert s["protocols"][protocol]["statuses"] == {"passed": len(sample)}, protocol
    # an empty middle fails
    empty = [{"task_id": t.task_id, "completion": ""} for t in sample[:3]]
    s = _run(cli, tmp_path / "e", write_jsonl(tmp_path / "e.jsonl", empty), bench)
    assert s["protocols"]["strict"]["statuses"].get("passed", 0) == 0


def _gold_program(task) -> str:
    """A solution() returning the ground truth as the set writes it (a number, or MATH's LaTeX)."""
    if task.group == "gsm-hard":
        return task.canonical_solution  # GSM-Hard ships the program
    try:
        return f"def solution():\n    return {float(task.answer)!r}\n"
    except ValueError:
        return f"def solution():\n    return {task.answer!r}\n"


@needs_data
def test_pal_math_gold_answers_pass_on_every_set_and_wrong_ones_fail(cli, tmp_path):
    skip_without("python")
    b = load_benchmark("pal-math", SHARED_BENCHMARKS)
    per_set = {}
    for t in b.tasks:
        per_set.setdefault(t.group, []).append(t)
    assert {k: len(v) for k, v in per_set.items()} == {"gsm8k": 1319, "gsm-hard": 1319, "math": 5000, "svamp": 1000,
                                                       "asdiv": 2215, "mawps": 2065}
    picked = [t for ts in per_set.values() for t in ts[:2]]
    rows = [{"task_id": t.task_id, "completion": _gold_program(t)} for t in picked]
    # an equivalent form: MATH's answers as sympy objects (str() of a sympy Integer)
    rows = [{**r, "completion": "from sympy import Integer\n\ndef solution():\n    return Integer(%s)\n" % t.answer}
            if t.group == "math" and t.answer.isdigit() else r for r, t in zip(rows, picked)]
    s = _run(cli, tmp_path / "gold", write_jsonl(tmp_path / "gold.jsonl", rows), "pal-math", "--limit", 2)
    for protocol in ("strict", "deepseek"):
        groups = s["protocols"][protocol]["groups"]
        assert all(groups[g]["pass@1"] == 1.0 for g in per_set), (protocol, groups)
    assert s["paper"]["pass@1"]["33b"] == 65.8 and "TabMWP" in s["paper"]["note"]
    firsts = [ts[0] for ts in per_set.values()]  # one wrong answer per set (keeps the test short)
    wrong = [{"task_id": t.task_id, "completion": "def solution():\n    return 'not it'\n"} for t in firsts]
    s = _run(cli, tmp_path / "wrong", write_jsonl(tmp_path / "wrong.jsonl", wrong), "pal-math", "--limit", 1)
    for protocol in ("strict", "deepseek"):
        assert s["protocols"][protocol]["statuses"] == {"wrong_answer": len(firsts)}, protocol
    result = read_jsonl(tmp_path / "wrong" / "pal-math" / "results.jsonl")[0]
    assert "expected" in result["reason"]


def test_math_comparison_accepts_equivalent_forms_and_rejects_others():
    from stages.eval.math_grader import boxed_answer, grade, strip_string
    assert grade("\\frac{1}{2}", "0.5") and grade("\\frac{1}{2}", "1/2") and grade("0.5", "\\frac{1}{2}")
    assert grade("\\sqrt{2}", "1.41421356") and grade("18", 18.0) and grade("18", "18.00")
    assert grade("50", "0.5") and grade("\\frac{x+2}{7}", "x/7 + 2/7")  # percent forms; symbolic equality
    assert not grade("\\frac{1}{2}", "0.6") and not grade("18", 19) and not grade("\\sqrt{2}", "2")
    assert not grade("\\frac{1}{2}", "") and not grade("x+1", "x+2")
    assert boxed_answer("so $\\boxed{\\frac{9}{7}}$.") == "\\frac{9}{7}" and strip_string("\\dfrac12") == "\\frac{1}{2}"
    # untrusted text never reaches Python's eval through sympy's parse_expr
    assert not grade("0", "__import__('os').system('touch /tmp/pwned-by-grader')")
    assert not Path("/tmp/pwned-by-grader").exists()


LEETCODE_SOLUTIONS = {
    "weekly-contest-381-minimum-number-of-pushes-to-type-word-i":
        "class Solution:\n    def minimumPushes(self, word: str) -> int:\n"
        "        return sum(i // 8 + 1 for i in range(len(word)))\n",
    "biweekly-contest-122-divide-an-array-into-subarrays-with-minimum-cost-i":
        "class Solution:\n    def minimumCost(self, nums: List[int]) -> int:\n"
        "        return nums[0] + sum(sorted(nums[1:])[:2])\n",
    "weekly-contest-380-count-elements-with-maximum-frequency":
        "class Solution:\n    def maxFrequencyElements(self, nums: List[int]) -> int:\n"
        "        c = Counter(nums)\n        m = max(c.values())\n"
        "        return sum(v for v in c.values() if v == m)\n",
    "weekly-contest-378-check-if-bitwise-or-has-trailing-zeros":
        "class Solution:\n    def hasTrailingZeros(self, nums: List[int]) -> bool:\n"
        "        return sum(1 for x in nums if x % 2 == 0) >= 2\n",
    "weekly-contest-377-minimum-number-game":
        "class Solution:\n    def numberGame(self, nums: List[int]) -> List[int]:\n"
        "        s = sorted(nums)\n        out = []\n        for i in range(0, len(s), 2):\n"
        "            out += [s[i + 1], s[i]]\n        return out\n",
    "biweekly-contest-119-find-common-elements-between-two-arrays":
        "class Solution:\n    def findIntersectionValues(self, nums1: List[int], nums2: List[int]) -> List[int]:\n"
        "        a, b = set(nums1), set(nums2)\n"
        "        return [sum(x in b for x in nums1), sum(x in a for x in nums2)]\n",
    "biweekly-contest-118-find-words-containing-character":
        "class Solution:\n    def findWordsContaining(self, words: List[str], x: str) -> List[int]:\n"
        "        return [i for i, w in enumerate(words) if x in w]\n",
}


@needs_data
def test_leetcode_hand_written_solutions_pass_and_wrong_ones_fail(cli, tmp_path):
    skip_without("python")
    b = load_benchmark("leetcode", SHARED_BENCHMARKS)
    assert len(b.tasks) == 180 and {g: sum(t.group == g for t in b.tasks) for g in ("Easy", "Medium", "Hard")} == \
        {"Easy": 45, "Medium": 91, "Hard": 44}
    # as a model answers: prose, then the code block (the code extracted as evaluate_leetcode.py does)
    rows = [{"task_id": t, "completion": f"Here it is:\n```python\n{code}```\nDone.", "full": False}
            for t, code in LEETCODE_SOLUTIONS.items()]
    from stages.eval.sanitize import leetcode_code
    by_id = {t.task_id: t for t in b.tasks}
    rows = [{"task_id": r["task_id"], "completion": leetcode_code(by_id[r["task_id"]], r["completion"])}
            for r in rows]
    s = _run(cli, tmp_path / "ok", write_jsonl(tmp_path / "ok.jsonl", rows), "leetcode")
    for protocol in ("strict", "deepseek"):
        assert s["protocols"][protocol]["statuses"] == {"passed": len(rows)}, protocol
    assert s["pass@1"] == len(rows) / 180 and s["groups"]["Easy"]["pass@1"] == len(rows) / 45
    assert s["groups"]["Hard"]["pass@1"] == 0.0 and s["paper"]["pass@1"]["6.7b"] == 19.4
    # off by one in each: the asserts fail
    wrong = [{"task_id": r["task_id"], "completion": r["completion"].replace("return ", "return 1 + ", 1)
              if "List[int]:" not in r["completion"].split("\n")[1] else
              r["completion"].replace("return ", "return [0] + ", 1)} for r in rows]
    s = _run(cli, tmp_path / "bad", write_jsonl(tmp_path / "bad.jsonl", wrong), "leetcode")
    assert s["protocols"]["strict"]["statuses"] == {"wrong_answer": len(rows)}
    assert s["protocols"]["deepseek"]["statuses"] == {"failed": len(rows)}
    reasons = {r["reason"] for r in read_jsonl(tmp_path / "bad" / "leetcode" / "results-deepseek.jsonl")}
    assert reasons == {"failed: AssertionError"}


def test_leetcode_extraction_follows_evaluate_leetcode():
    from stages.eval.benchmarks import Task
    from stages.eval.sanitize import leetcode_code
    t = Task("x", "python", "Solve it.\n```python\nclass Solution:\n    def f(self) -> int:\n        \n```", "")
    assert leetcode_code(t, "text\n```python\nclass Solution:\n    pass\n```") == "class Solution:\n    pass"
    assert leetcode_code(t, "[PYTHON]\nclass A:\n    pass\n[/PYTHON]") == "class A:\n    pass"
    assert leetcode_code(t, "\n        return 1\n") == "class Solution:\n    def f(self) -> int:\n\n        return 1\n"
    assert leetcode_code(t, "class S:\n    x = 1\nprint(2)") == "class S:\n    x = 1"
    assert leetcode_code(t, "```python no newline") == "```python no newline"  # their except branch
