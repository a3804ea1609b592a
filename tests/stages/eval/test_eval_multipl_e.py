"""Hand-written solutions in each MultiPL-E language: correct ones pass, wrong ones fail for the
right reason; a missing toolchain is a clear skip, not a crash."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from eval_test_helpers import SHARED_BENCHMARKS, needs_data, read_jsonl, skip_without, write_jsonl  # noqa: E402

ADD, STRLEN, BROKEN = "HumanEval_53_add", "HumanEval_23_strlen", "broken"
SOLUTIONS = {  # language: {task: (correct, wrong)}
    "cpp": {ADD: ("    return x + y;\n", "    return x - y;\n"),
            STRLEN: ("    return string.size();\n", "    return 0;\n"),
            BROKEN: "    return x + ;\n"},
    "java": {ADD: ("        return x + y;\n", "        return x * y;\n"),
             STRLEN: ("        return string.length();\n", "        return 1l;\n"),
             BROKEN: "        return x + ;\n"},
    "js": {ADD: ("  return x + y;\n}\n", "  return x - y;\n}\n"),
           STRLEN: ("  return string.length;\n}\n", "  return 0;\n}\n")},
    "ts": {ADD: ("  return x + y;\n}\n", "  return x - y;\n}\n"),
           STRLEN: ("  return string.length;\n}\n", "  return 0;\n}\n"),
           BROKEN: "  return x + y\n}\nlet s: number = 'str';\n"},
    "php": {ADD: ("    return $x + $y;\n}\n", "    return $x - $y;\n}\n")},  # PHP's strlen task cannot pass
    "cs": {ADD: ("        return x + y;\n", "        return x - y;\n"),
           STRLEN: ("        return str.Length;\n", "        return 0L;\n"),
           BROKEN: "        return x + ;\n"},
    "sh": {ADD: ("    echo $(( $1 + $2 ))\n", "    echo $(( $1 - $2 ))\n"),
           STRLEN: ("    echo ${#1}\n", "    echo 0\n")},
}


@needs_data
@pytest.mark.parametrize("lang", sorted(SOLUTIONS))
def test_correct_pass_wrong_fail(cli, tmp_path, lang):
    skip_without(lang)
    rows = []
    for task, sol in SOLUTIONS[lang].items():
        if task == BROKEN:
            rows.append({"task_id": ADD, "completion": sol})
            continue
        rows += [{"task_id": task, "completion": sol[0]}, {"task_id": task, "completion": sol[1]}]
    gens = write_jsonl(tmp_path / "g.jsonl", rows)
    bench = f"humaneval-{lang}"
    s = cli.json("eval", tmp_path / "out", "--generations", gens, "--benchmarks", bench, "--data", SHARED_BENCHMARKS)
    results = {(r["task_id"], r["sample"]): r for r in read_jsonl(tmp_path / "out" / bench / "results.jsonl")}
    for task, sol in SOLUTIONS[lang].items():
        if task == BROKEN:
            continue
        assert results[(task, 0)]["status"] == "passed", results[(task, 0)]
        assert results[(task, 1)]["status"] == "wrong_answer", results[(task, 1)]
    if BROKEN in SOLUTIONS[lang]:
        assert results[(ADD, 2)]["status"] == "compile_error", results[(ADD, 2)]
    b = s["benchmarks"][bench]
    assert b["executed"] == len(rows)
    per_task = {}
    for (task, _), r in results.items():
        per_task.setdefault(task, []).append(r["passed"])
    # Every task of the benchmark counts: the ones without a generation as failed (and listed).
    assert b["pass@1"] == pytest.approx(sum(sum(v) / len(v) for v in per_task.values()) / b["tasks"])
    assert len(b["without_generation"]) == b["tasks"] - len(per_task) and ADD not in b["without_generation"]


@needs_data
def test_missing_toolchain_is_a_skip(cli, tmp_path, monkeypatch):
    import stages.eval.execute as ex
    real = ex._which
    monkeypatch.setattr(ex, "_which", lambda name: None if name == "javac" else real(name))
    gens = write_jsonl(tmp_path / "g.jsonl", [{"task_id": ADD, "completion": "        return x + y;\n"}])
    r = cli("eval", tmp_path / "out", "--generations", gens, "--benchmarks", "humaneval-java", "--data",
            SHARED_BENCHMARKS)
    assert "skipped: no javac" in r.stdout
    s = cli.json("eval", tmp_path / "out", "--generations", gens, "--benchmarks", "humaneval-java", "--data",
                 SHARED_BENCHMARKS)
    assert s["benchmarks"]["humaneval-java"]["skipped"] == "skipped: no javac"
