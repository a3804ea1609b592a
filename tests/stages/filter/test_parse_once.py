"""Parse once (docs/filter.md): topo-sort records each parsed file's syntax score, and the quality
filter's decisions from those records are exactly those of parsing again.

The main check runs real standard-library packages (with lib2to3's Python 2 test data and BOM
file, and planted broken Java, JavaScript and YAML) through topo-sort, then filters the samples
with the records and with the columns removed: the outputs, rejected rows included, are the same
bytes, and the first path parses only the files topo-sort did not score.
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from stages.core.runner import RunOptions, run_stage
from stages.core.sample_text import split_sample
from stages.core.schemas import FILES_SCHEMA
from stages.filter import quality
from stages.filter.config import FilterConfig
from stages.filter.stage import FilterStage
from stages.filter.syntax import (GRAMMARS, ParsedSource, _parser, file_syntax, recorded_score, syntax_key,
                                  syntax_record, text_digest)
from stages.topo_sort.config import TopoSortConfig
from stages.topo_sort.stage import TopoSortStage

STDLIB = Path(sysconfig.get_paths()["stdlib"])
SYNTAX_COLUMNS = ["syntax_scores", "syntax_key"]

PLANTED = {
    "broken/Main.java": ("Java", "package broken;\npublic class Main {\n  void f( {\n}\n"),
    "broken/Good.java": ("Java", "package broken;\nimport broken.Main;\npublic class Good { int x = 1; }\n"),
    "web/app.js": ("JavaScript", "function f(a, b {\n  return a + b;\n}\n"),  # outside topo-sort's scope
    "web/ok.js": ("JavaScript", "export function g(a) {\n  return a * 2;\n}\n"),
    "conf/ci.yaml": ("YAML", "jobs:\n  build: [a, b\n  test: {c: 1}\n" + "  # padding line\n" * 5),
    "pkg/no_newline.py": ("Python", "import json\n\n\ndef f(x):\n    return json.dumps(x)"),  # no final newline
    "pkg/py2.py": ("Python", "import os\n\nprint 'hello'\n\n\ndef g():\n    return os.sep\n"),
    "pkg/huge.py": ("Python", "import os\nDATA = [\n" + "    1,\n" * 60_000 + "]\n"),  # above max_parse_bytes
}


def repository_files() -> list[dict]:
    rows = []
    for package in ("json", "concurrent", "lib2to3"):
        for path in sorted((STDLIB / package).rglob("*.py")):
            try:
                content = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
            rows.append({"repo": package, "path": str(path.relative_to(STDLIB / package)), "lang": "Python",
                         "content": content})
    rows += [{"repo": "planted", "path": p, "lang": lang, "content": c} for p, (lang, c) in PLANTED.items()]
    for row in rows:
        row.update(commit=None, size=len(row["content"].encode()), sha=None, license=None, repo_created_at=None)
    return rows


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("parse_once")
    (root / "files").mkdir()
    pq.write_table(pa.Table.from_pylist(repository_files(), schema=FILES_SCHEMA), root / "files/part-00000.parquet")
    config = TopoSortConfig(input=root / "files", max_parse_bytes=200_000)
    summary = run_stage(TopoSortStage(config), RunOptions(output=root / "samples", workers=1))
    assert summary["counters"]["syntax_recorded"] > 100
    return root / "samples"


def _table(folder: Path) -> pa.Table:
    return pq.read_table(next(folder.glob("part-*.parquet")))


def _without_records(src: Path, dest: Path, change=None) -> Path:
    """A copy of the samples without the syntax columns, or with them changed by ``change``."""
    dest.mkdir()
    table = _table(src)
    table = table.drop_columns(SYNTAX_COLUMNS) if change is None else change(table)
    pq.write_table(table, dest / "part-00000.parquet")
    return dest


def _filter(src: Path, out: Path, granularity: str, monkeypatch) -> tuple[dict, int]:
    """The quality pass on ``src``; also how many files the syntax rule parsed."""
    parsed = []
    real = quality.file_syntax

    def counting(text, lang, parsed_source=None):
        parsed.append(lang)
        return real(text, lang, parsed_source)

    monkeypatch.setattr(quality, "file_syntax", counting)
    config = FilterConfig(input=src, rule_sets=("quality",), granularity=granularity)
    summary = run_stage(FilterStage(config), RunOptions(output=out, workers=1))
    monkeypatch.setattr(quality, "file_syntax", real)
    return summary, len(parsed)


def _comparable(table: pa.Table) -> pa.Table:
    """The table without the syntax columns, floats as their bits (so NaN equals NaN)."""
    table = table.drop_columns([c for c in SYNTAX_COLUMNS if c in table.column_names])
    for i, f in enumerate(table.schema):
        if pa.types.is_floating(f.type):
            table = table.set_column(i, f.name, table[f.name].combine_chunks().view(pa.int64()))
        elif pa.types.is_list(f.type) and pa.types.is_floating(f.type.value_type):
            table = table.set_column(i, f.name, table[f.name].combine_chunks().view(pa.list_(pa.int64())))
    return table


def _assert_same_outputs(a: Path, b: Path) -> None:
    for sub in ("", "_rejected"):
        x, y = sorted((a / sub).glob("part-*.parquet")), sorted((b / sub).glob("part-*.parquet"))
        assert [p.name for p in x] == [p.name for p in y]
        for p, q in zip(x, y):
            assert _comparable(pq.read_table(p)).equals(_comparable(pq.read_table(q))), (sub, p.name)


def _checked_files(samples: Path, out: Path | None = None) -> tuple[int, int]:
    """(files in a language the syntax rule checks by default, those with a recorded score); with
    ``out``, only the files that reach the syntax rule there (no earlier rule rejected them)."""
    table = _table(samples)
    earlier = set()
    if out is not None:
        rejected = pq.read_table(next((out / "_rejected").glob("*.parquet")))
        earlier = {(s, i) for s, i, r in zip(*(rejected[c].to_pylist() for c in ("sample_id", "file_index", "reason")))
                   if r != "syntax"}
    rule = quality.quality_rules()[-1]
    checked = recorded = 0
    for sample_id, langs, records in zip(*(table[c].to_pylist() for c in ("sample_id", "langs", "syntax_scores"))):
        for i, (lang, record) in enumerate(zip(langs, records)):
            if rule.checked(lang) and (sample_id, i) not in earlier:
                checked += 1
                recorded += record is not None
    return checked, recorded


@pytest.mark.parametrize("granularity", ["file", "sample"])
def test_decisions_from_records_are_the_reparsing_ones(samples, tmp_path, monkeypatch, granularity):
    bare = _without_records(samples, tmp_path / "bare")
    with_records, parsed_once = _filter(samples, tmp_path / "once", granularity, monkeypatch)
    reparsed, parsed_again = _filter(bare, tmp_path / "again", granularity, monkeypatch)
    _assert_same_outputs(tmp_path / "once", tmp_path / "again")
    assert with_records["counters"] == reparsed["counters"]
    # Real rejections, with their details: lib2to3's Python 2 grammar test, the planted files.
    rejected = pq.read_table(next((tmp_path / "once/_rejected").glob("*.parquet")))
    details = " ".join(d for d in rejected["reason_detail"].to_pylist() if d)
    assert rejected.num_rows >= 3 and "Java" in details and "Python" in details
    checked, recorded = _checked_files(samples)
    assert recorded >= 0.9 * checked
    if granularity == "file":
        # Of the files that reach the syntax rule, only those topo-sort did not score are parsed:
        # outside its scope (JavaScript, YAML) or above --max-parse-bytes.
        checked, recorded = _checked_files(samples, tmp_path / "once")
        assert (parsed_once, parsed_again) == (checked - recorded, checked)
        assert recorded > 100
    else:
        assert parsed_once < parsed_again / 10


def test_mismatched_records_are_parsed_again(samples, tmp_path, monkeypatch):
    """Another code's key, another language, or a text changed after topo-sort (as pii redaction
    does): the quality pass parses, and decides as without records."""
    def other_key(table):
        return table.set_column(table.column_names.index("syntax_key"), "syntax_key",
                                pa.array(["file_syntax/v0 python=2.7"] * table.num_rows, pa.string()))

    def edited_text(table):  # every Python file of every sample gets a syntax error appended
        texts = [t.replace("\n\n# ", "\nprint 'x'\n\n# ") for t in table["text"].to_pylist()]
        return table.set_column(table.column_names.index("text"), "text", pa.array(texts, pa.large_string()))

    bare = _without_records(samples, tmp_path / "bare")
    _, parsed_again = _filter(bare, tmp_path / "again", "file", monkeypatch)
    _, parsed = _filter(_without_records(samples, tmp_path / "key", other_key), tmp_path / "key-out", "file",
                        monkeypatch)
    assert parsed == parsed_again
    _assert_same_outputs(tmp_path / "key-out", tmp_path / "again")

    edited = _without_records(samples, tmp_path / "edited", edited_text)
    edited_bare = _without_records(edited, tmp_path / "edited-bare")
    _, parsed = _filter(edited, tmp_path / "edited-out", "file", monkeypatch)
    _, parsed_edited_bare = _filter(edited_bare, tmp_path / "edited-bare-out", "file", monkeypatch)
    assert parsed_edited_bare / 2 < parsed < parsed_edited_bare  # the edited files: their digests no longer match
    _assert_same_outputs(tmp_path / "edited-out", tmp_path / "edited-bare-out")
    rejected = pq.read_table(next((tmp_path / "edited-out/_rejected").glob("*.parquet")))
    assert pc.sum(pc.equal(rejected["reason"], "syntax")).as_py() > 20


def test_records_are_used_without_parsing(samples, tmp_path, monkeypatch):
    """A valid record decides: one that says a file has errors (forged here) removes it unparsed."""
    table = _table(samples)
    records = table["syntax_scores"].to_pylist()
    row = next(i for i, r in enumerate(records) if len(r) > 3 and all(r))
    forged = dict(records[row][1], errors=7, first_error_line=3, message="forged")
    records[row] = [records[row][0], forged, *records[row][2:]]
    column = pa.array(records, table.schema.field("syntax_scores").type)
    src = _without_records(samples, tmp_path / "forged",
                           lambda t: t.set_column(t.column_names.index("syntax_scores"), "syntax_scores", column))
    _filter(src, tmp_path / "out", "file", monkeypatch)
    rejected = pq.read_table(next((tmp_path / "out/_rejected").glob("*.parquet")))
    mine = rejected.filter(pc.equal(rejected["reason_detail"], "Python: 'forged' at line 3"))
    assert mine["sample_id"].to_pylist() == [table["sample_id"][row].as_py()]
    assert mine["path"].to_pylist() == [table["paths"][row].as_py()[1]]
    assert mine["quality_syntax_errors"].to_pylist() == [7.0]


def test_topo_sort_records_are_file_syntax_of_the_sample_files(samples):
    """Each record is file_syntax of the file as its sample holds it; unparsed files have none."""
    table = _table(samples)
    assert set(table["syntax_key"].to_pylist()) == {syntax_key()}
    seen = set()
    for text, paths, langs, records in zip(*(table[c].to_pylist() for c in ("text", "paths", "langs", "syntax_scores"))):
        files = split_sample(text, paths, langs)
        for path, lang, content, record in zip(paths, langs, files, records):
            seen.add(path)
            if record is None:
                assert path in ("web/app.js", "web/ok.js", "conf/ci.yaml", "pkg/huge.py") or len(paths) == 1, path
                continue
            score = file_syntax(content, lang)
            assert record == {"lang": lang, "digest": text_digest(content.encode()), "errors": score.errors,
                              "error_bytes": score.error_bytes, "total_bytes": score.total_bytes,
                              "first_error_line": score.first_error_line, "message": score.message}, path
    assert {"pkg/no_newline.py", "pkg/py2.py", "broken/Main.java", "tests/data/bom.py"} <= seen


def test_no_records_on_request(tmp_path):
    (tmp_path / "files").mkdir()
    pq.write_table(pa.Table.from_pylist(repository_files()[:20], schema=FILES_SCHEMA), tmp_path / "files/part-00000.parquet")
    run_stage(TopoSortStage(TopoSortConfig(input=tmp_path / "files", syntax_scores=())),
              RunOptions(output=tmp_path / "samples", workers=1))
    table = _table(tmp_path / "samples")
    assert table["syntax_key"].null_count == table.num_rows
    assert all(r is None for rs in table["syntax_scores"].to_pylist() for r in rs)


SNIPPETS = {
    "Python": ["def f(x):\n    return x\n", "print 'x'\n", "\ufeffx = 1\n", "def f(:\n  pass\n"],
    "Java": ["class A { int f() { return 1; } }\n", "class A { int f( { }\n"],
    "JavaScript": ["const a = (b) => b + 1;\n", "function (a {\n"],
    "TypeScript": ["let a: number = 1;\n", "const x = <div>hi</div>;\n", "let a: = ;\n"],
    "Go": ["package a\nfunc F() int { return 1 }\n", "package a\nfunc F( {\n"],
    "Rust": ["fn f() -> i32 { 1 }\n", "fn f( {\n"],
    "PHP": ["<?php\nfunction f($a) { return $a; }\n", "<?php\nfunction f($a { }\n"],
    "Ruby": ["def f(a)\n  a\nend\n", "def f(a\n  a\n"],
    "C": ["#ifdef X\nint f(void) { return 1; }\n#else\nint f(void) {\n#endif\n", "int f( {\n", "class A {};\n"],
    "C++": ["#include <x>\nnamespace a { int f(); }\n", "int f( {\n"],
}


@pytest.mark.parametrize("lang", sorted(SNIPPETS))
def test_a_tree_of_the_same_bytes_gives_the_same_score(lang):
    """file_syntax with a caller's tree equals file_syntax alone, whatever grammar the tree is of."""
    grammars = {"Python": "python", "TypeScript": "typescript"}
    for text in SNIPPETS[lang]:
        expected = file_syntax(text, lang)
        for grammar in {grammars.get(lang) or GRAMMARS[lang], "tsx", "cpp", "python"}:
            data = text.encode()
            parsed = ParsedSource(grammar, data, _parser(grammar).parse(data))
            assert file_syntax(text, lang, parsed) == expected, (lang, text, grammar)
        assert recorded_score(syntax_record(text, lang), lang, text.encode()) == expected
        assert recorded_score(syntax_record(text, lang), "Markdown", text.encode()) is None
        assert recorded_score(syntax_record(text, lang), lang, (text + " ").encode()) is None


def test_files_shards_have_no_records_and_parse(tmp_path, monkeypatch):
    (tmp_path / "files").mkdir()
    rows = repository_files()[-8:]  # the planted files
    pq.write_table(pa.Table.from_pylist(rows, schema=FILES_SCHEMA), tmp_path / "files/part-00000.parquet")
    summary, parsed = _filter(tmp_path / "files", tmp_path / "out", "file", monkeypatch)
    assert parsed >= len(rows) - 1  # every file the earlier rules keep (huge.py is one line repeated)
    assert summary["counters"]["rejected:syntax"] >= 4  # Main.java, app.js, ci.yaml, py2.py
