"""`crosscodeeval`: the reader (on files written in CrossCodeEval's official schema and archive
layout), the prompt (cross-file context as comments within 512 tokens, the left context cut to fit
2048 - 50), the first-line prediction and the metrics (EM, ES, identifier EM and F1)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from eval_test_helpers import read_jsonl, write_jsonl  # noqa: E402

from stages.eval.benchmarks import Task
from stages.eval.completion_metrics import edit_similarity, first_line, identifiers, lcs_length, score
from stages.eval.crosscodeeval import crossfile_prompt, keep_last_tokens


def _task(task_id, prompt, truth, right, chunks, lineno=3):
    """One line of CrossCodeEval's line_completion_*.jsonl, field for field."""
    text = "# Here are some relevant code fragments from other files of the repo:\n\n" + "".join(
        f"# the below code fragment can be found in:\n# {c['filename']}\n# {c['retrieved_chunk']}\n\n" for c in chunks)
    return {"prompt": prompt, "groundtruth": truth, "right_context": right,
            "metadata": {"task_id": task_id, "repository": "owner-project-3f2a1c9", "file": "pkg/main.py",
                         "context_start_lineno": 0, "groundtruth_start_lineno": lineno,
                         "right_context_start_lineno": lineno + 1},
            "crossfile_context": {"text": text, "list": chunks}}


@pytest.fixture
def official(tmp_path) -> Path:
    """An extracted official archive: crosscodeeval_data/<language>/line_completion_*.jsonl."""
    root = tmp_path / "data"
    chunk = [{"retrieved_chunk": "def load_config(path):\n    return Config(path)", "filename": "pkg/config.py",
              "score": 12.5}]
    write_jsonl(root / "crosscodeeval_data/python/line_completion_rg1_bm25.jsonl", [
        _task("project_cc_python/0", "from .config import load_config\n\ndef main():\n",
              "    cfg = load_config('app.toml')", "\n    return cfg\n", chunk),
        _task("project_cc_python/1", "from .db import connect\n\ndef run():\n",
              "    conn = connect(host, port=5432)", "\n", []),
    ])
    write_jsonl(root / "crosscodeeval_data/java/line_completion_rg1_bm25.jsonl", [
        _task("project_cc_java/0", "import a.b.Util;\nclass X {\n  void f() {\n",
              "    String s = Util.join(\"a\", items);", "\n  }\n}\n",
              [{"retrieved_chunk": "public static String join(String sep, List<String> xs) {", "filename":
                "src/a/b/Util.java", "score": 3.0}]),
    ])
    write_jsonl(root / "crosscodeeval_data/typescript/line_completion_oracle_bm25.jsonl", [
        _task("project_cc_typescript/0", "import { sum } from './math';\n", "const total = sum(values);", "\n",
              [{"retrieved_chunk": "export function sum(xs: number[]) {", "filename": "src/math.ts", "score": 9.1}]),
    ])
    return root


def test_reads_the_official_files_and_scores_per_language(official, tmp_path, cli):
    preds = write_jsonl(tmp_path / "preds.jsonl", [
        # the model's 50 tokens: only the first non-blank line counts; a trailing comment does not
        {"benchmark": "crosscodeeval", "task_id": "project_cc_python/0",
         "completion": "\n    cfg = load_config('app.toml')  # the app's\n    return cfg\n"},
        {"benchmark": "crosscodeeval", "task_id": "project_cc_python/1", "completion": "    conn = connect(host)\n"},
        {"benchmark": "crosscodeeval", "task_id": "project_cc_java/0",
         "completion": "    String s = Util.join(\"a\", items);\n  }"},
        {"benchmark": "crosscodeeval-oracle", "task_id": "project_cc_typescript/0", "completion": "const t = sum(v);"},
    ])
    s = cli.json("eval", tmp_path / "out", "--generations", preds, "--benchmarks",
                 "crosscodeeval,crosscodeeval-oracle", "--benchmarks-dir", official)
    b = s["benchmarks"]["crosscodeeval"]
    assert (b["tasks"], b["tasks_executed"]) == (3, 3)  # rg1_bm25 files: python and java
    es1 = 100 * 2 * lcs_length("conn = connect(host)", "conn = connect(host, port=5432)") / (20 + 31)
    assert b["languages"]["python"] == {"tasks": 2, "em": 50.0, "es": round((100 + es1) / 2, 2), "id_em": 50.0,
                                        "id_f1": round(100 * (1 + 2 * 3 / (2 * 3 + 0 + 1)) / 2, 2)}
    assert b["languages"]["java"] == {"tasks": 1, "em": 100.0, "es": 100.0, "id_em": 100.0, "id_f1": 100.0}
    assert b["em"] == round(100 * 2 / 3, 2)
    o = s["benchmarks"]["crosscodeeval-oracle"]  # the archive's oracle_bm25 file, typescript only here
    assert o["tasks"] == 1 and o["languages"]["typescript"]["em"] == 0.0
    # identifiers {t, sum, v} against {total, sum, values}: one in common
    assert o["languages"]["typescript"]["id_f1"] == round(100 * 2 * 1 / (2 * 1 + 2 + 2), 2)
    assert identifiers("const total = sum(values);", "typescript") == ["total", "sum", "values"]
    rows = read_jsonl(tmp_path / "out/crosscodeeval/results.jsonl")
    assert [r["task_id"] for r in rows] == ["project_cc_python/0", "project_cc_python/1", "project_cc_java/0"]
    assert rows[0]["prediction"] == "    cfg = load_config('app.toml')  # the app's" and rows[0]["em"] == 1
    # The archive's folder itself works as --benchmarks-dir too.
    s = cli.json("eval", tmp_path / "out2", "--generations", preds, "--benchmarks", "crosscodeeval",
                 "--benchmarks-dir", official / "crosscodeeval_data")
    assert s["benchmarks"]["crosscodeeval"]["languages"] == b["languages"]


def test_every_task_counts_and_infile_has_no_context(official, tmp_path, cli):
    from stages.eval.benchmarks import load_benchmark
    bench = load_benchmark("crosscodeeval-infile", official)
    assert [t.context for t in bench.tasks] == [[], [], []]
    bench = load_benchmark("crosscodeeval", official)
    assert bench.tasks[0].context[0]["filename"] == "pkg/config.py" and bench.tasks[1].context == []
    assert bench.tasks[0].canonical_solution == "    cfg = load_config('app.toml')"
    assert bench.tasks[0].suffix == "\n    return cfg\n" and bench.tasks[0].language == "python"
    preds = write_jsonl(tmp_path / "p.jsonl", [{"task_id": "project_cc_java/0",
                                                "completion": "    String s = Util.join(\"a\", items);"}])
    s = cli.json("eval", tmp_path / "o", "--generations", preds, "--benchmarks", "crosscodeeval",
                 "--benchmarks-dir", official)
    b = s["benchmarks"]["crosscodeeval"]
    assert b["em"] == round(100 / 3, 2) and b["without_generation"] == ["project_cc_python/0", "project_cc_python/1"]


def test_bad_files_are_usage_errors_naming_the_line(tmp_path, cli):
    root = tmp_path / "data"
    path = root / "python" / "line_completion_rg1_bm25.jsonl"
    write_jsonl(path, [_task("t/0", "a\n", "b = c()", "\n", [])])
    with open(path, "a") as f:
        f.write('{"prompt": "x", "metadata": {"task_id": "t/1"}}\n')
    preds = write_jsonl(tmp_path / "p.jsonl", [{"task_id": "t/0", "completion": "b"}])
    r = cli("eval", tmp_path / "o", "--generations", preds, "--benchmarks", "crosscodeeval", "--benchmarks-dir",
            root, expect=2)
    assert f"{path}, line 2: not a CrossCodeEval task (KeyError: 'groundtruth')" in r.stderr
    r = cli("eval", tmp_path / "o", "--generations", preds, "--benchmarks", "crosscodeeval", "--benchmarks-dir",
            tmp_path / "nothing-here", expect=2)
    assert "no <language>/line_completion*.jsonl" in r.stderr and "dscoder build-crossfile" in r.stderr
    assert not (tmp_path / "o").exists()


def words(text: str) -> int:
    """A stand-in tokenizer: one token per whitespace-separated word."""
    return len(text.split())


def test_prompt_context_as_comments_within_512_tokens_then_the_left_context():
    chunks = [{"retrieved_chunk": "def a():\n\n    return 1", "filename": "x/a.py", "score": 3.0},
              {"retrieved_chunk": " ".join(["w"] * 600), "filename": "x/big.py", "score": 2.0},
              {"retrieved_chunk": "B = 2", "filename": "x/b.py", "score": 1.0}]
    task = Task("t", "python", "import a\nx = 1\n", "", canonical_solution="y = a.a()", context=chunks)
    prompt = crossfile_prompt(task, words)
    # CrossCodeEval's eval.py: the header, then each chunk while the total fits; the 600-word chunk
    # does not, and the ones after it are not tried (its loop stops there).
    assert prompt == ("# Here are some relevant code fragments from other files of the repo:\n\n"
                      "# the below code fragment is found in x/a.py\n# def a():\n#     return 1\n\n"
                      "import a\nx = 1\n")
    java = Task("t", "java", "class A {\n", "", context=chunks[2:])
    assert crossfile_prompt(java, words).startswith("// Here are some relevant code fragments from other files "
                                                    "of the repo:\n\n// the below code fragment is found in x/b.py\n"
                                                    "// B = 2\n\n")
    # The left context keeps its end: 2048 - 50 tokens minus the context's.
    long_left = "".join(f"line {i} of the file\n" for i in range(600))  # 5 words a line
    task = Task("t", "python", long_left, "", context=chunks[:1])
    prompt = crossfile_prompt(task, words)
    context_words = words(prompt[:prompt.index("line ")])
    kept = prompt[prompt.index("line "):]
    assert words(kept) <= 2048 - 50 - context_words < words(kept) + 5
    assert long_left.endswith(kept) and kept.startswith("line ") and words(prompt) <= 1998
    assert crossfile_prompt(Task("t", "python", long_left, ""), words) == long_left[-len(
        keep_last_tokens(long_left, 1998, words)):]
    assert keep_last_tokens("a b c d e", 2, words) == " d e"  # one long line: its longest end that fits
    assert keep_last_tokens("x\ny\n", 0, words) == ""


def test_metrics_on_known_cases():
    assert first_line("\n\n   \n  foo(x)\nbar()") == "  foo(x)"
    assert first_line("") == "" and first_line("a\r\nb") == "a"
    assert lcs_length("kitten", "sitting") == 4
    assert edit_similarity("abc", "abd") == pytest.approx(100 * 4 / 6)
    assert edit_similarity("  same  ", "same") == 100.0 and edit_similarity("", "x") == 0.0
    # Keywords and strings are not identifiers; repeats and order count for ID EM, not for F1.
    assert identifiers('if self.ok: return get("key", x)', "python") == ["self", "ok", "get", "x"]
    assert identifiers("public static int n = count(items);", "java") == ["n", "count", "items"]
    s = score("x = f(a, a)", "x = f(a)", "python")
    assert (s["em"], s["id_em"], s["id_f1"]) == (0, 0, 1.0)
    s = score("return Foo.bar(); // done", "return Foo.bar();", "java")
    assert (s["em"], s["es"], s["id_em"], s["id_f1"]) == (1, 100.0, 1, 1.0)
    s = score("", "y = g()", "python")
    assert (s["em"], s["es"], s["id_em"], s["id_f1"]) == (0, 0.0, 0, 0.0)
