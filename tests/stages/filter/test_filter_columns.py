"""Issue 16: a shard whose columns have the wrong types fails with one line naming the column."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest


def _errors(out) -> list[str]:
    return [json.loads(x)["error"] for x in (out / "_dscoder/errors.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("rules", ["starcoder", "quality"])
def test_wrong_column_types_and_missing_text_column(cli, tmp_path, rules):
    src = tmp_path / "in"
    src.mkdir()
    text = "def f(x):\n    return x + 1\n" * 5
    pq.write_table(pa.table({"repo": ["a"], "path": [7], "lang": ["Python"], "content": [text]}),
                   src / "part-00000.parquet")
    pq.write_table(pa.table({"sample_id": ["a#0"], "paths": [[1, 2]], "text": [text]}), src / "part-00001.parquet")
    pq.write_table(pa.table({"repo": ["a"], "body": [text]}), src / "part-00002.parquet")
    pq.write_table(pa.table({"repo": ["a"], "path": ["m.py"], "lang": ["Python"], "content": [3]}),
                   src / "part-00003.parquet")
    s = cli.json("filter", src, tmp_path / "out", "--rules", rules, expect=1)  # failed units: exit 1
    assert s["shards_failed"] == ["part-00000", "part-00001", "part-00002", "part-00003"]
    errors = _errors(tmp_path / "out")
    assert f"UsageError: column `path` in {src / 'part-00000.parquet'} is int64, expected string" in errors
    assert f"UsageError: column `paths` in {src / 'part-00001.parquet'} is list<element: int64>, expected list<string>" in errors
    assert f"UsageError: no text column (content or text) in {src / 'part-00002.parquet'} (columns: repo, body)" in errors
    assert f"UsageError: column `content` in {src / 'part-00003.parquet'} is int64, expected string" in errors
