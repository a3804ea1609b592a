"""`dscoder crawl DATASET OUT`: the datasets users hold, in each layout, into `files` shards and
through the rest of the chain; their bad rows and files rejected with reasons, the rest going on."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import dataset_fixtures as fx  # noqa: E402

from conftest import read_output  # noqa: E402


def layout_source(kind: str, root: Path) -> tuple[Path, list[str]]:
    """(SOURCE, extra crawl options) holding fx.CORPUS in layout `kind`."""
    if kind == "stack-v1":
        return fx.write_stack_v1(root / "stack"), []
    if kind == "stack-v2":
        meta, blobs = fx.write_stack_v2(root / "v2")
        return meta, ["--blobs", str(blobs)]
    if kind == "repo-rows":
        return fx.write_repo_rows(root / "repos"), []
    if kind == "jsonl-columns":
        return fx.write_jsonl(root / "jsonl"), ["--columns", fx.JSONL_COLUMNS]
    if kind == "save-to-disk":
        return fx.write_save_to_disk(root / "hf", [fx.stack_v1_row(r) for r in fx.CORPUS]), []
    raise ValueError(kind)


LAYOUTS = ["stack-v1", "stack-v2", "repo-rows", "jsonl-columns", "save-to-disk"]
# What each layout carries: (stars, license, repo_created_at)
CARRIES = {"stack-v1": (True, True, False), "stack-v2": (True, True, True), "repo-rows": (True, True, True),
           "jsonl-columns": (True, True, True), "save-to-disk": (True, True, False)}


def check_files(out: Path, kind: str) -> pa.Table:
    """The crawl output holds exactly the corpus, each repository contiguous and in path order,
    repositories in order of first appearance, with the layout's metadata."""
    t = read_output(out)
    rows = t.to_pylist()
    want = fx.expected_files()
    assert {(r["repo"], r["path"]) for r in rows} == set(want)
    repos = [r["repo"] for r in rows]
    assert list(dict.fromkeys(repos)) == fx.first_appearance()
    for repo in set(repos):
        idx = [i for i, r in enumerate(repos) if r == repo]
        assert idx == list(range(idx[0], idx[-1] + 1))  # contiguous
        assert [rows[i]["path"] for i in idx] == sorted(rows[i]["path"] for i in idx)
    stars, licence, created = CARRIES[kind]
    for r in rows:
        w = want[(r["repo"], r["path"])]
        assert r["content"] == w["content"] and r["size"] == len(w["content"].encode())
        assert r["lang"] == fx.lang_of(r["path"]), r
        assert r["sha"] == fx.git_sha(w["content"])
        assert r["stars"] == (w["stars"] if stars else None) or (kind == "stack-v2" and w["stars"] is None
                                                                 and r["stars"] == 0)
        assert r["license"] == (w["license"] if licence else None)
        assert r["repo_created_at"] == (w["created"] if created else None)
    assert t.schema.field("stars").type == pa.int64()
    return t


@pytest.mark.parametrize("kind", LAYOUTS)
def test_each_layout_round_trips_into_files_shards(cli, tmp_path, kind):
    source, extra = layout_source(kind, tmp_path)
    s = cli.json("crawl", source, tmp_path / "out", *extra)
    check_files(tmp_path / "out", kind)
    assert s["rows_in"] == s["rows_kept"] == len(fx.CORPUS) and s["errors"] == 0
    assert s["counters"]["repos"] == len(fx.REPOS)
    manifest = json.loads((tmp_path / "out/_dscoder/manifest.json").read_text())
    layout = {"jsonl-columns": "columns", "save-to-disk": "stack-v1"}.get(kind, kind)
    assert manifest["units"][0]["inputs"][0]["mapping"]["layout"] == layout


@pytest.mark.parametrize("kind", LAYOUTS)
def test_each_layout_through_the_chain(cli, tmp_path, kind):
    """crawl → filter → topo-sort → dedup → tokenize: samples per repository, carrying the metadata,
    and every document decodes to its sample's text."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "tokenize"))
    from tokenize_helpers import documents, load, split_fim

    source, extra = layout_source(kind, tmp_path)
    cli("crawl", source, tmp_path / "files", *extra)
    f = cli.json("filter", tmp_path / "files", tmp_path / "filtered", "--rules", "starcoder")
    assert f["rows_kept"] == len(fx.CORPUS)  # real code: every file passes the paper's rules
    cli("topo-sort", tmp_path / "filtered", tmp_path / "samples")
    samples = read_output(tmp_path / "samples").to_pylist()
    by_id = {s["sample_id"]: s for s in samples}
    app = next(s for s in samples if "app/main.py" in s["paths"])
    assert app["paths"] == ["app/util.py", "app/main.py"]  # the dependency first (paper §2.2)
    assert {s["repo"] for s in samples} == set(fx.REPOS)
    stars, licence, created = CARRIES[kind]
    assert app["stars"] == (120 if stars else None) and app["license"] == ("MIT" if licence else None)
    assert app["repo_created_at"] == (fx.REPOS["acme/app"]["created"] if created else None)
    d = cli.json("dedup", tmp_path / "samples", tmp_path / "dedup")
    assert d["rows_kept"] == len(samples)  # no two samples are alike
    t = cli.json("tokenize", tmp_path / "dedup", tmp_path / "tokens", "--train-tokenizer", "--vocab-size", "300",
                 "--fim-rate", "0")
    assert t["counters"]["documents"] == len(samples)
    tok = load(tmp_path / "tokens/tokenizer")
    kept = read_output(tmp_path / "dedup").to_pylist()
    docs = [doc for p in sorted((tmp_path / "tokens").glob("part-*.bin")) for doc in documents(p.with_suffix(""))]
    assert [split_fim(doc, tok, "plain")["text"] for doc in docs] == [s["text"] for s in kept]
    assert set(by_id) == {s["sample_id"] for s in kept}
