"""Issue 16, topo-sort: duplicate paths are rejected rows, a repository's scattered rows make one
group, a huge file is not parsed for imports."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from conftest import read_output
from stages.core.schemas import FILES_SCHEMA
import stages.topo_sort.deps as deps


def _shard(folder: Path, rows: list[tuple[str, str, str]]) -> Path:
    """rows: (repo, path, content), in this order (not necessarily contiguous)."""
    from stages.core.languages import detect_language
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist([{"repo": r, "commit": None, "path": p, "lang": detect_language(p), "content": c,
                                   "size": len(c.encode()), "sha": None, "license": None, "repo_created_at": None}
                                  for r, p, c in rows], schema=FILES_SCHEMA)
    pq.write_table(table, folder / "part-00000.parquet")
    return folder


def test_duplicate_paths_are_rejected_rows_and_counts_add_up(cli, tmp_path):
    src = _shard(tmp_path / "files", [("a", "m.py", "import util\n"), ("a", "util.py", "X = 1\n"),
                                      ("a", "m.py", "print('second copy')\n"), ("a", "m.py", "third\n"),
                                      ("b", "m.py", "y = 2\n")])
    out = tmp_path / "samples"
    s = cli.json("topo-sort", src, out)
    assert s["rows_in"] == 5 and s["rows_kept"] == 3 and s["rows_rejected"] == 2
    assert s["rows_in"] == s["rows_kept"] + s["rows_rejected"]
    assert s["counters"]["rejected:duplicate_path"] == 2
    rejected = read_output(out / "_rejected").to_pylist()
    assert [(r["repo"], r["path"], r["content"], r["reason"]) for r in rejected] == [
        ("a", "m.py", "print('second copy')\n", "duplicate_path"), ("a", "m.py", "third\n", "duplicate_path")]
    samples = {r["sample_id"]: r for r in read_output(out).to_pylist()}
    assert samples["a#0"]["paths"] == ["util.py", "m.py"] and "import util" in samples["a#0"]["text"]
    assert "second copy" not in samples["a#0"]["text"]  # the first row is the file


def test_a_repository_whose_rows_are_not_contiguous_is_one_group(cli, tmp_path):
    src = _shard(tmp_path / "files", [("a", "x.py", "import y\n"), ("b", "solo.py", "z = 1\n"),
                                      ("a", "y.py", "Y = 1\n"), ("b", "other.json", "{}\n")])
    out = tmp_path / "samples"
    s = cli.json("topo-sort", src, out)
    t = read_output(out).to_pylist()
    ids = [r["sample_id"] for r in t]
    assert len(ids) == len(set(ids))  # never two samples with one id
    assert ids == ["a#0", "b#0", "b#1"]  # repositories in the order they first appear
    assert t[0]["paths"] == ["y.py", "x.py"]  # the scattered files of `a` still ordered together
    assert s["counters"]["repos_not_contiguous"] == 2 and s["counters"]["repos"] == 2


def test_huge_single_line_file_is_not_parsed_for_imports(cli, tmp_path, monkeypatch):
    big = "DATA = [" + "1, " * 2_000_000 + "]\n"  # 6 MB on one line, as generated files have
    src = _shard(tmp_path / "files", [("r", "big.py", "import small\n" + big), ("r", "small.py", "S = 1\n"),
                                      ("r", "uses.py", "import big\n")])
    parsed: list[int] = []
    real_parse = deps.parse

    def recording_parse(grammar, content):
        parsed.append(len(content))
        if len(content) > 1 << 20:  # the old code parsed it: fail fast instead of taking seconds
            raise MemoryError("would parse a multi-MB file")
        return real_parse(grammar, content)

    monkeypatch.setattr(deps, "parse", recording_parse)
    out = tmp_path / "samples"
    s = cli.json("topo-sort", src, out)
    assert max(parsed) < 1 << 20 and len(parsed) == 2  # small.py and uses.py only
    assert s["counters"]["parse_skipped_too_large"] == 1 and s["counters"]["parse_failures"] == 0
    # big.py is still in a sample and still depended on; only its own imports are unread (so
    # small.py, which only big.py imports, is a sample of its own).
    samples = {tuple(r["paths"]): r for r in read_output(out).to_pylist()}
    assert set(samples) == {("big.py", "uses.py"), ("small.py",)}
    assert big in samples[("big.py", "uses.py")]["text"]
    # the limit is an option, recorded in the manifest
    s2 = cli.json("topo-sort", src, tmp_path / "s2", "--max-parse-bytes", 100)
    assert s2["counters"]["parse_skipped_too_large"] == 1
    r = cli("topo-sort", src, tmp_path / "s2", "--max-parse-bytes", 0, expect=2)
    assert "--max-parse-bytes" in r.stderr


def test_wrong_column_type_is_one_line_naming_the_column(cli, tmp_path):
    folder = tmp_path / "files"
    folder.mkdir()
    pq.write_table(pa.table({"repo": ["a"], "path": [7], "lang": ["Python"], "content": ["x = 1\n"]}),
                   folder / "part-00000.parquet")
    pq.write_table(pa.table({"repo": ["a"], "lang": ["Python"], "content": ["x = 1\n"]}), folder / "part-00001.parquet")
    s = cli.json("topo-sort", folder, tmp_path / "out", expect=1)  # failed units: exit 1
    assert s["shards_failed"] == ["part-00000", "part-00001"]
    errors = (tmp_path / "out/_dscoder/errors.jsonl").read_text()
    assert f"column `path` in {folder / 'part-00000.parquet'} is int64, expected string" in errors
    assert f"no column `path` in {folder / 'part-00001.parquet'} (columns: repo, lang, content)" in errors
    assert "AttributeError" not in errors and "FieldRef" not in errors
