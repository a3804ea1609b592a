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


# --- grouping, units, determinism -----------------------------------------------------------


def test_repositories_split_across_files_and_chunks_are_reassembled(cli, tmp_path, monkeypatch):
    """Every row group its own chunk, a unit per repository: the same rows, each repository in one
    shard, identical for --workers 1/2 and ranks 0..2 of 3."""
    from stages.crawl.dataset import containers

    source = fx.write_stack_v1(tmp_path / "stack")
    cli("crawl", source, tmp_path / "one")
    monkeypatch.setattr(containers, "CHUNK_BYTES", 1)
    tiny = ["--shard-size", "0.000001"]
    s = cli.json("crawl", source, tmp_path / "a", *tiny)
    cli("crawl", source, tmp_path / "b", *tiny, "--workers", "2")
    for rank in range(3):
        cli("crawl", source, tmp_path / "c", *tiny, "--rank", rank, "--world-size", 3)
    shards = sorted(p.name for p in (tmp_path / "a").glob("part-*.parquet"))
    assert len(shards) == len(fx.REPOS) == s["shards_total"]
    for name in shards:
        t = pq.read_table(tmp_path / "a" / name)
        assert len(set(t["repo"].to_pylist())) == 1  # a repository never spans two shards
        assert t.equals(pq.read_table(tmp_path / "b" / name)) and t.equals(pq.read_table(tmp_path / "c" / name))
    assert read_output(tmp_path / "a").equals(read_output(tmp_path / "one"))
    manifest = json.loads((tmp_path / "a/_dscoder/manifest.json").read_text())
    chunks = [i for u in manifest["units"] for i in u["inputs"] if i["kind"] == "dataset_chunk"]
    # 5 and 4 rows in row groups of 2: 3 + 2 chunks, each read by the units of its repositories
    key = lambda c: (c["rel"], tuple(c["chunk"]["row_groups"]))  # noqa: E731
    assert len({key(c) for c in chunks}) == 5 and len(chunks) < 5 * len(shards)
    assert all(sum(c["owner"] for c in chunks if key(c) == key(d)) == 1 for d in chunks)  # one owner each


def test_plan_reads_only_the_repository_and_size_columns(tmp_path, monkeypatch):
    """Grouping never loads the contents: the plan pass asks Parquet for the repository column and
    the size column only."""
    from stages.crawl.dataset import containers
    from stages.crawl.dataset.plan import plan_dataset

    source = fx.write_stack_v1(tmp_path / "stack")
    asked = []
    real = containers.ParquetData._batches

    def spy(self, spec, columns):
        asked.append(tuple(columns))
        return real(self, spec, columns)

    monkeypatch.setattr(containers.ParquetData, "_batches", spy)
    units, errors = plan_dataset(source, "auto", None, None, 1 << 30)
    assert errors == [] and len(units) == 1
    assert set(asked) == {("max_stars_repo_name", "size")}
    assert units[0].inputs[0]["repos"] == fx.first_appearance()


def test_save_to_disk_dataset_dict_and_arrow_file_format(cli, tmp_path):
    rows = [fx.stack_v1_row(r) for r in fx.CORPUS]
    # DatasetDict: its splits in dataset_dict.json's order, each split's files in state.json's
    source = fx.write_dataset_dict(tmp_path / "dd", {"train": rows[:5], "test": rows[5:]})
    cli("crawl", source, tmp_path / "out")
    check_files(tmp_path / "out", "save-to-disk")
    # the Arrow IPC *file* format (feather v2), under any name
    arrow = tmp_path / "feather"
    arrow.mkdir()
    with pa.OSFile(str(arrow / "whatever.arrow"), "wb") as sink:
        with pa.ipc.new_file(sink, pa.Table.from_pylist(rows).schema) as w:
            for b in pa.Table.from_pylist(rows).to_batches(max_chunksize=3):
                w.write_batch(b)
    cli("crawl", arrow / "whatever.arrow", tmp_path / "out2")
    assert read_output(tmp_path / "out2").equals(read_output(tmp_path / "out"))


def test_folder_written_by_hf_datasets(cli, tmp_path):
    """A folder `datasets` itself wrote (save_to_disk, several shards; a DatasetDict too)."""
    datasets = pytest.importorskip("datasets")
    rows = [fx.stack_v1_row(r) for r in fx.CORPUS]
    ds = datasets.Dataset.from_list(rows)
    ds.save_to_disk(str(tmp_path / "hf"), num_shards=3)
    cli("crawl", tmp_path / "hf", tmp_path / "out")
    check_files(tmp_path / "out", "save-to-disk")
    datasets.DatasetDict({"train": ds.select(range(4)), "validation": ds.select(range(4, len(rows)))}) \
        .save_to_disk(str(tmp_path / "dd"))
    cli("crawl", tmp_path / "dd", tmp_path / "out2")
    assert read_output(tmp_path / "out2").equals(read_output(tmp_path / "out"))
    # also a Parquet file written by datasets
    (tmp_path / "pq").mkdir()
    ds.to_parquet(str(tmp_path / "pq" / "x.parquet"))
    cli("crawl", tmp_path / "pq", tmp_path / "out3")
    assert read_output(tmp_path / "out3").equals(read_output(tmp_path / "out"))


def test_prefer_stars_picks_the_starred_copy_end_to_end(cli, tmp_path):
    """Two identical repositories: dedup keeps `aaa/fork` by default (smallest sample id), the
    starred original with --prefer stars; the stars come from the dataset's own column."""
    files = [r for r in fx.CORPUS if r["repo"] == "acme/lib"]
    rows = [{**r, "repo": "aaa/fork", "stars": 2} for r in files] + [{**r, "repo": "zzz/original", "stars": 900}
                                                                      for r in files]
    source = fx.write_stack_v1(tmp_path / "stack", rows)
    cli("crawl", source, tmp_path / "files")
    cli("filter", tmp_path / "files", tmp_path / "filtered")
    cli("topo-sort", tmp_path / "filtered", tmp_path / "samples")
    cli("dedup", tmp_path / "samples", tmp_path / "plain")
    cli("dedup", tmp_path / "samples", tmp_path / "starred", "--prefer", "stars")
    assert set(read_output(tmp_path / "plain")["repo"].to_pylist()) == {"aaa/fork"}
    kept = read_output(tmp_path / "starred").to_pylist()
    assert {r["repo"] for r in kept} == {"zzz/original"} and {r["stars"] for r in kept} == {900}


# --- bad rows, bad files, bad options -------------------------------------------------------


def errors_of(out: Path) -> dict[str, str]:
    lines = (out / "_dscoder/errors.jsonl").read_text().splitlines() if (out / "_dscoder/errors.jsonl").exists() else []
    return {e["item"]: e["error"] for e in map(json.loads, lines)}


def rejected_of(out: Path) -> list[dict]:
    t = read_output(out / "_rejected")
    return t.to_pylist() if t is not None else []


def test_bad_rows_are_rejected_with_reasons_and_the_rest_goes_on(cli, tmp_path):
    good = [fx.stack_v1_row(r) for r in fx.CORPUS]
    base = fx.stack_v1_row(fx.CORPUS[0])
    bad = [
        {**base, "max_stars_repo_path": None},                                          # row 9
        {**base, "max_stars_repo_name": ""},                                            # 10
        {**base, "max_stars_repo_path": "include/view.h", "lang": "Objective-C"},       # 11
        {**base, "max_stars_repo_path": "x/klingon.py", "lang": "Klingon"},             # 12: by the path
        {**base, "max_stars_repo_path": "../etc/evil.py"},                              # 13
        {**base, "max_stars_repo_path": "new\nline.py"},                                # 14
        {**base, "max_stars_repo_path": "nul.py", "content": "x = 1\0\n"},              # 15
        {**base, "max_stars_repo_path": "big.py", "content": "x = 1\n" * 1000, "size": 6000},  # 16
        {**base, "max_stars_repo_path": "data.xyz", "lang": None},                      # 17
        {**base, "content": "# a second copy of the same path\n"},                      # 18: duplicate
    ]
    folder = tmp_path / "src"
    folder.mkdir()
    pq.write_table(pa.Table.from_pylist(good + bad), folder / "rows.parquet", row_group_size=4)
    out = tmp_path / "out"
    s = cli.json("crawl", folder, out, "--max-file-size", 4000)
    kept = {(r["repo"], r["path"]): r for r in read_output(out).to_pylist()}
    assert set(kept) == set(fx.expected_files()) | {(base["max_stars_repo_name"], "x/klingon.py")}
    assert kept[(base["max_stars_repo_name"], "x/klingon.py")]["lang"] == "Python"
    first = (base["max_stars_repo_name"], base["max_stars_repo_path"])
    assert kept[first]["content"] == base["content"]  # the first of a duplicated path is kept
    reasons = {r["source"]: r["reason"] for r in rejected_of(out)}
    assert reasons == {"rows.parquet row 9": "missing_value", "rows.parquet row 10": "missing_value",
                       "rows.parquet row 11": "language_not_kept", "rows.parquet row 13": "unsafe_path",
                       "rows.parquet row 14": "control_character_in_name", "rows.parquet row 15": "binary",
                       "rows.parquet row 16": "too_large", "rows.parquet row 17": "unknown_language",
                       "rows.parquet row 18": "duplicate_path"}
    assert s["rows_in"] == s["rows_kept"] + s["rows_rejected"] == len(good) + len(bad)
    errors = errors_of(out)
    assert "`max_stars_repo_path` is null" in errors["rows.parquet row 9"]
    assert "`max_stars_repo_name` is null or empty" in errors["rows.parquet row 10"]
    assert "'..'" in errors["rows.parquet row 13"] and "control characters" in errors["rows.parquet row 14"]
    assert "NUL" in errors["rows.parquet row 15"]
    assert set(errors) == {"rows.parquet row 9", "rows.parquet row 10", "rows.parquet row 13",
                           "rows.parquet row 14", "rows.parquet row 15"}


def test_malformed_json_lines_named_by_file_line_and_column(cli, tmp_path):
    source = fx.write_jsonl(tmp_path / "jsonl", extra_lines=[
        "not json {",
        "[1, 2]",
        json.dumps({"text": "x = 1\n", "repo_name": "acme/app"}),
        json.dumps({"text": 5, "repo_name": "acme/app", "file_path": "five.py"}),
        json.dumps({"text": "y = 2\n", "repo_name": "acme/app", "file_path": "y.py", "stargazers": "many"}),
        json.dumps({"text": "z = 3\n", "repo_name": None, "file_path": "z.py"}),
    ])
    n = len(fx.halves(fx.CORPUS)[0])  # the good lines come first: the bad ones are lines n+1 …
    out = tmp_path / "out"
    s = cli.json("crawl", source, out, "--columns", fx.JSONL_COLUMNS)
    check_files(out, "jsonl-columns")
    reasons = {r["source"]: r["reason"] for r in rejected_of(out)}
    line = lambda k: f"shard_a.jsonl:{n + k}"  # noqa: E731
    assert reasons == {line(1): "malformed_row", line(2): "malformed_row", line(3): "missing_value",
                       line(4): "malformed_row", line(5): "malformed_row", line(6): "missing_value"}
    errors = errors_of(out)
    assert errors[line(1)].startswith("not JSON") and "not an object" in errors[line(2)]
    assert "`file_path` is missing" in errors[line(3)]
    assert "`text` is an integer, not a string" in errors[line(4)]
    assert "`stargazers`" in errors[line(5)] and "not a count" in errors[line(5)]
    assert "`repo_name` is null" in errors[line(6)]
    assert s["rows_in"] == len(fx.CORPUS) + 6 and s["errors"] == 6


def test_a_file_missing_a_column_is_named_and_the_others_go_on(cli, tmp_path):
    source = fx.write_stack_v1(tmp_path / "stack")
    second = source / "data/python/train-00001-of-00002.parquet"
    t = pq.read_table(second)
    pq.write_table(t.drop_columns(["content"]), second)
    first = source / "data/python/train-00000-of-00002.parquet"
    pq.write_table(pq.read_table(first).drop_columns(["max_stars_count"]), first)
    (source / "data/python/broken.parquet").write_bytes(b"PAR1 this is not parquet")
    out = tmp_path / "out"
    s = cli.json("crawl", source, out)
    kept = read_output(out).to_pylist()
    assert len(kept) == len(fx.halves(fx.CORPUS)[0]) and all(r["stars"] is None for r in kept)
    rejected = rejected_of(out)
    assert len(rejected) == t.num_rows and {r["reason"] for r in rejected} == {"missing_column"}
    assert {(r["repo"], r["path"]) for r in rejected} == {(r["repo"], r["path"]) for r in fx.halves(fx.CORPUS)[1]}
    errors = errors_of(out)
    assert "no column `content`" in errors["data/python/train-00001-of-00002.parquet"]
    assert "no column `max_stars_count`" in errors["data/python/train-00000-of-00002.parquet"]
    assert "cannot read Parquet" in errors["data/python/broken.parquet"]
    assert s["errors"] == 3
    cli("crawl", source, tmp_path / "strict", "--strict", expect=1)


def test_many_bad_rows_are_listed_five_times_then_counted(cli, tmp_path):
    rows = [{**fx.stack_v1_row(fx.CORPUS[0]), "max_stars_repo_path": None} for _ in range(12)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "nulls.parquet")
    s = cli.json("crawl", tmp_path / "nulls.parquet", tmp_path / "out")
    assert s["rows_rejected"] == 12 and s["rows_kept"] == 0
    errors = [json.loads(x) for x in (tmp_path / "out/_dscoder/errors.jsonl").read_text().splitlines()]
    assert [e["item"] for e in errors[:5]] == [f"nulls.parquet row {i}" for i in range(5)]
    assert len(errors) == 6 and "7 more rows with missing_value (`max_stars_repo_path`)" in errors[5]["error"]


def test_stack_v2_blobs_vendor_generated_missing_and_mismatched(cli, tmp_path):
    extra_src = [{"repo": "acme/app", "path": f"extra/{name}.py", "content": f"value_{name} = 1\n", "stars": 120,
                  "license": "MIT", "created": None} for name in ("vendor", "generated", "missing", "swapped", "latin", "badid")]
    rows = [fx.stack_v2_row(extra_src[0], is_vendor=True), fx.stack_v2_row(extra_src[1], is_generated=True),
            fx.stack_v2_row(extra_src[2]), fx.stack_v2_row(extra_src[3]),
            fx.stack_v2_row(extra_src[4], src_encoding="ISO-8859-1"), fx.stack_v2_row(extra_src[5], blob_id="../../x")]
    meta, blobs = fx.write_stack_v2(tmp_path / "v2", extra_rows=rows)
    (blobs / rows[3]["blob_id"]).write_bytes(b"other bytes than its id says\n")  # a swapped download
    latin = "caf\xe9 = 'cr\xe8me'\n".encode("latin-1")
    latin_id = fx.write_blob(blobs, latin, 2)
    rows[4]["blob_id"] = latin_id
    second = meta / "Python/train-00001.parquet"
    t = pq.read_table(second)
    ids = t["blob_id"].to_pylist()
    ids[-2] = latin_id
    pq.write_table(t.set_column(t.column_names.index("blob_id"), "blob_id", pa.array(ids)), second)
    out = tmp_path / "out"
    s = cli.json("crawl", meta, out, "--blobs", blobs)
    kept = {(r["repo"], r["path"]): r for r in read_output(out).to_pylist()}
    assert kept[("acme/app", "extra/latin.py")]["content"] == "café = 'crème'\n"  # decoded by src_encoding
    assert kept[("acme/app", "extra/latin.py")]["sha"] == latin_id  # the dataset's blob id
    assert set(kept) - {("acme/app", "extra/latin.py")} == set(fx.expected_files())
    reasons = {r["path"]: r["reason"] for r in rejected_of(out)}
    assert reasons == {"extra/vendor.py": "vendor", "extra/generated.py": "generated", "extra/missing.py": "missing_blob",
                       "extra/swapped.py": "blob_mismatch", "extra/badid.py": "malformed_row"}
    errors = errors_of(out)
    assert any("not in" in e and "blob" in e for e in errors.values())
    assert any("its content's git blob id is" in e for e in errors.values())
    assert any("not 40 hex digits" in e for e in errors.values())
    assert s["rows_in"] == len(fx.CORPUS) + len(rows)
    r = cli("crawl", meta, tmp_path / "noblobs", expect=2)
    assert "pass --blobs DIR" in r.stderr


def test_repository_rows_with_bad_file_lists(cli, tmp_path):
    lines = [{"repo_name": "o/ok", "stars": 3, "files": [{"path": "a.py", "text": "a = 1\n"},
                                                         "not a file", {"text": "b = 2\n"}]},
             {"repo_name": "o/empty", "files": []},
             {"repo_name": "o/oops", "files": "oops"}]
    (tmp_path / "repos.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    out = tmp_path / "out"
    s = cli.json("crawl", tmp_path / "repos.jsonl", out)
    assert [(r["repo"], r["path"], r["stars"]) for r in read_output(out).to_pylist()] == [("o/ok", "a.py", 3)]
    reasons = {r["source"]: r["reason"] for r in rejected_of(out)}
    assert reasons == {"repos.jsonl:1 file 1": "malformed_row", "repos.jsonl:1 file 2": "missing_value",
                       "repos.jsonl:2": "empty_repository", "repos.jsonl:3": "malformed_row"}
    assert "`files` is a string, not a list of files" in errors_of(out)["repos.jsonl:3"]
    assert s["rows_in"] == 5


def test_layout_and_column_errors_are_usage_errors(cli, tmp_path):
    pq.write_table(pa.table({"a": ["x"], "b": ["y"]}), tmp_path / "odd.parquet")
    r = cli("crawl", tmp_path / "odd.parquet", tmp_path / "o1", expect=2)
    assert "cannot tell the layout of odd.parquet from its columns (a, b)" in r.stderr and "--columns" in r.stderr
    assert "--format repos" not in r.stderr  # SOURCE is one file, not a folder
    assert not (tmp_path / "o1").exists()
    r = cli("crawl", tmp_path / "odd.parquet", tmp_path / "o2", "--columns", "content=a,repo=b,path=nope", expect=2)
    assert "no column `nope` in odd.parquet (columns: a, b)" in r.stderr
    r = cli("crawl", tmp_path / "odd.parquet", tmp_path / "o3", "--columns", "content=a,repo=b", expect=2)
    assert "has no column for path" in r.stderr
    r = cli("crawl", tmp_path / "odd.parquet", tmp_path / "o4", "--columns", "bogus=a", expect=2)
    assert "unknown field 'bogus'" in r.stderr
    r = cli("crawl", tmp_path / "odd.parquet", tmp_path / "o5", "--columns", "content", expect=2)
    assert "expected FIELD=COLUMN" in r.stderr
    source = fx.write_stack_v1(tmp_path / "stack")
    r = cli("crawl", source, tmp_path / "o6", "--format", "stack-v2", expect=2)
    assert "has no column for repo; path" in r.stderr
    r = cli("crawl", source, tmp_path / "o7", "--format", "stack-v3", expect=2)
    assert "stack-v3" in r.stderr
    cli("crawl", tmp_path / "stack", tmp_path / "o8", "--blobs", tmp_path / "nowhere", "--format", "stack-v1", expect=2)


def test_forced_format_and_a_column_mapping_over_a_layout(cli, tmp_path):
    """--format names the layout; --columns replaces single columns of it."""
    rows = [{**fx.stack_v1_row(r), "language": "Python"} for r in fx.CORPUS if r["path"].endswith(".py")]
    for r in rows:
        r["stars_v2"] = 11
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "x.parquet")
    cli("crawl", tmp_path / "x.parquet", tmp_path / "out", "--format", "stack-v1", "--columns", "stars=stars_v2")
    t = read_output(tmp_path / "out")
    assert set(t["stars"].to_pylist()) == {11} and t.num_rows == len(rows)


def test_rerun_resumes_and_a_changed_source_is_refused(cli, tmp_path):
    source = fx.write_stack_v1(tmp_path / "stack")
    out = tmp_path / "out"
    cli("crawl", source, out, "--shard-size", "0.000001")
    (out / "_dscoder/done/part-00001.json").unlink()
    again = cli.json("crawl", source, out, "--shard-size", "0.000001")
    assert again["this_run"]["shards_done"] == 1 and again["rows_kept"] == len(fx.CORPUS)
    (source / "data/python/extra.parquet").write_bytes(
        (source / "data/python/train-00000-of-00002.parquet").read_bytes())
    r = cli("crawl", source, out, "--shard-size", "0.000001", expect=2)
    assert "changed since this output was started" in r.stderr and "extra.parquet` added" in r.stderr
    r = cli("crawl", source, out, "--shard-size", "1", expect=2)  # options changed: refused as well
    cli("crawl", source, out, "--shard-size", "0.000001", "--overwrite")


def test_what_counts_as_a_dataset_source(tmp_path):
    from stages.crawl.sources import is_dataset_source

    ds = fx.write_stack_v1(tmp_path / "stack")  # data files + README.md
    repos = tmp_path / "repos"
    (repos / "r1").mkdir(parents=True)
    (repos / "r1/a.py").write_text("x = 1\n")
    (repos / "r2").mkdir()
    (repos / "r2/data.parquet").write_bytes((ds / "data/python/train-00000-of-00002.parquet").read_bytes())
    hf = fx.write_save_to_disk(tmp_path / "hf", [fx.stack_v1_row(r) for r in fx.CORPUS])
    (tmp_path / "list.txt").write_text(f"{repos / 'r1'}\n")
    assert is_dataset_source(str(ds)) and is_dataset_source(str(hf))
    assert is_dataset_source(str(ds / "data/python/train-00000-of-00002.parquet"))
    assert not is_dataset_source(str(repos)) and not is_dataset_source(str(tmp_path / "list.txt"))
    assert not is_dataset_source("github:language:python") and not is_dataset_source("https://example.org/a.git")
    assert is_dataset_source(str(repos), fmt="stack-v1") and is_dataset_source(str(repos), columns={"repo": "r"})
    assert not is_dataset_source(str(ds), fmt="repos")


def test_values_languages_and_licences():
    from stages.crawl.dataset.layouts import BadValue, _license, _time, dataset_language, parse_columns

    assert dataset_language("c++") == ("C++", False) and dataset_language("Jupyter Notebook") == ("Jupyter Notebook", False)
    assert dataset_language("Objective-C") == (None, True) and dataset_language("Coq") == (None, True)
    assert dataset_language("Klingon") == (None, False) and dataset_language(None) == (None, False)
    assert _license(["MIT", "Apache-2.0", "MIT"], "l") == "MIT AND Apache-2.0"
    assert _license(["MIT"], "l") == "MIT" and _license("NOASSERTION", "l") is None and _license([], "l") is None
    with pytest.raises(BadValue):
        _license([3], "l")
    assert _time("2020-01-02T03:04:05Z", "t").isoformat() == "2020-01-02T03:04:05+00:00"
    with pytest.raises(BadValue):
        _time("yesterday", "t")
    assert parse_columns("content=text, repo=repo_name,files.path=name") == {
        "content": "text", "repo": "repo_name", "files.path": "name"}
    for bad in ("content", "=x", "nope=x", "content=a,content=b", "files.nope=x"):
        with pytest.raises(ValueError):
            parse_columns(bad)


def test_jsonl_gz_and_json_named_files(cli, tmp_path):
    """Any names, in one file or a tree: .json lines and .jsonl.gz too."""
    rows = [json.dumps(fx.stack_v1_row(r) | {"max_stars_count": r["stars"]}) + "\n" for r in fx.CORPUS]
    (tmp_path / "src/deep").mkdir(parents=True)
    (tmp_path / "src/a.json").write_text("".join(rows[:4]))
    with gzip.open(tmp_path / "src/deep/b.jsonl.gz", "wt") as fh:
        fh.write("".join(rows[4:]))
    cli("crawl", tmp_path / "src", tmp_path / "out")
    check_files(tmp_path / "out", "stack-v1")


def test_empty_files_are_files_and_lone_surrogates_are_not_text(cli, tmp_path):
    lines = ['{"repo": "o/r", "path": "pkg/__init__.py", "content": ""}',
             '{"repo": "o/r", "path": "bad.py", "content": "x = \'\\ud800\'\\n"}',
             '{"repo": "o/r", "path": "ok.py", "content": "x = \'\\u00e9\'\\n"}']
    (tmp_path / "f.jsonl").write_text("\n".join(lines) + "\n")
    s = cli.json("crawl", tmp_path / "f.jsonl", tmp_path / "out")
    kept = {r["path"]: r for r in read_output(tmp_path / "out").to_pylist()}
    assert kept["pkg/__init__.py"]["content"] == "" and kept["pkg/__init__.py"]["size"] == 0
    assert kept["ok.py"]["content"] == "x = 'é'\n" and kept["ok.py"]["size"] == 9
    assert [(r["path"], r["reason"]) for r in rejected_of(tmp_path / "out")] == [("bad.py", "not_utf8")]
    assert "surrogate" in errors_of(tmp_path / "out")["f.jsonl:2"] and s["rows_in"] == 3


def test_format_repos_reads_a_folder_of_json_only_repositories_as_repositories(cli, tmp_path):
    (tmp_path / "src/configs").mkdir(parents=True)
    (tmp_path / "src/configs/settings.json").write_text('{"name": "demo", "version": 3, "enabled": true}\n')
    (tmp_path / "src/configs/README.md").write_text("# configs\n")
    r = cli("crawl", tmp_path / "src", tmp_path / "o1", expect=2)  # looks like JSON lines: no layout
    assert "cannot tell the layout" in r.stderr and "or --format repos, if SOURCE is a folder of repositories" in r.stderr
    cli("crawl", tmp_path / "src", tmp_path / "o2", "--format", "repos")
    rows = read_output(tmp_path / "o2").to_pylist()
    assert {(r["repo"], r["path"], r["lang"]) for r in rows} == {("configs", "settings.json", "JSON"),
                                                                 ("configs", "README.md", "Markdown")}


def test_unreadable_data_files_and_a_repository_column_that_is_not_text_are_named(cli, tmp_path):
    """No readable data file: a usage error saying why for each; a file whose repository column is
    not text: its rows rejected as column_type, the file named once, the other files go on."""
    (tmp_path / "arr.json").write_text(json.dumps([{"repo": "o/r", "path": "a.py", "content": "a = 1\n"}]) + "\n")
    r = cli("crawl", tmp_path / "arr.json", tmp_path / "o1", expect=2)
    assert "arr.json: no JSON object in its first 100 lines" in r.stderr and "JSON array" in r.stderr
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad/x.parquet").write_bytes(b"PAR1 not parquet")
    r = cli("crawl", tmp_path / "bad", tmp_path / "o2", expect=2)
    assert "x.parquet: cannot read Parquet" in r.stderr
    src = tmp_path / "src"
    src.mkdir()
    pq.write_table(pa.table({"repo": [1, 2], "path": ["a.py", "b.py"], "content": ["a = 1\n", "b = 2\n"]}),
                   src / "a-ints.parquet")
    pq.write_table(pa.table({"repo": pa.array(["o/r", "o/r"]).dictionary_encode(), "path": ["c.py", "d.py"],
                             "content": ["c = 3\n", "d = 4\n"]}), src / "b-dict.parquet")
    s = cli.json("crawl", src, tmp_path / "out")
    assert [(r["repo"], r["path"]) for r in read_output(tmp_path / "out").to_pylist()] == [("o/r", "c.py"), ("o/r", "d.py")]
    assert [(r["source"], r["reason"]) for r in rejected_of(tmp_path / "out")] == [
        ("a-ints.parquet row 0", "column_type"), ("a-ints.parquet row 1", "column_type")]
    assert errors_of(tmp_path / "out") == {"a-ints.parquet": "column `repo` is int64, not a string"}
    assert s["rows_in"] == 4 and s["errors"] == 1


def test_a_truncated_gzip_file_gives_its_rows_up_to_the_break(cli, tmp_path):
    """A download cut short: every line before the break is crawled, the file is named with the
    line it breaks at, and the other files go on."""
    lines = [json.dumps({"repo": f"o/r{i % 3}", "path": f"m{i}.py", "content": f"v = {i}\n" * 50}) for i in range(2000)]
    data = gzip.compress(("\n".join(lines) + "\n").encode())
    (tmp_path / "src").mkdir()
    (tmp_path / "src/a.jsonl.gz").write_bytes(data[: len(data) // 2])
    (tmp_path / "src/b.jsonl").write_text(json.dumps({"repo": "o/b", "path": "b.py", "content": "b = 1\n"}) + "\n")
    with gzip.open(tmp_path / "src/a.jsonl.gz") as fh:  # what gzip itself gives before the break
        readable = []
        with pytest.raises(EOFError):
            for raw in iter(fh.readline, b""):
                readable.append(json.loads(raw)["path"])
    assert 0 < len(readable) < len(lines)
    out = tmp_path / "out"
    s = cli.json("crawl", tmp_path / "src", out, "--shard-size", "0.01")
    kept = {r["path"] for r in read_output(out).to_pylist()}
    assert kept == set(readable) | {"b.py"} and s["rows_in"] == len(readable) + 1
    (error,) = errors_of(out).items()
    assert error == ("a.jsonl.gz", f"cannot read at line {len(readable) + 1} (Compressed file ended before the "
                                   "end-of-stream marker was reached); the rest of this file is not read")
