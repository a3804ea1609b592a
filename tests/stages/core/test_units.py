"""Units of work on a single-shard input (docs/architecture.md#units-of-work).

A few standard-library packages crawled into ONE shard, with row groups and units made small so the
shard is cut into several units of work: every data stage of the chain gives byte-identical outputs
for --workers 1 and 2 and for one rank and three ranks, and really ran more than one unit.
"""

from __future__ import annotations

import filecmp
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import stages.core.shards as shards
from conftest import Cli, stdlib_dir

# Small enough to cut the ~1.5 MB shard into several units, large enough that a unit holds a few
# repositories' worth of row groups.
ROW_GROUP_BYTES = 48 << 10
UNIT_BYTES = 160 << 10
PACKAGES = ["json", "email", "html", "logging", "http", "urllib", "wsgiref", "xmlrpc", "concurrent"]

# the chain: name -> (input, arguments)
CHAIN = {
    "filter": ("files", ["filter", "--rules", "starcoder"]),
    "topo-sort": ("filter", ["topo-sort"]),
    "dedup": ("topo-sort", ["dedup"]),
    "quality": ("dedup", ["filter", "--rules", "quality,decontam", "--decontam", "humaneval"]),
    "tokenize": ("quality", ["tokenize", "--train-tokenizer", "--vocab-size", "400", "--tokenizer-sample-mb",
                             "0.4"]),
}


def data_files(root: Path) -> list[str]:
    """Every file of an output but the bookkeeping (_dscoder: logs, timings, done-markers)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "_dscoder" not in p.parts)


def assert_identical(a: Path, b: Path) -> None:
    fa, fb = data_files(a), data_files(b)
    assert fa == fb and fa, (a, b, fa, fb)
    different = [f for f in fa if not filecmp.cmp(a / f, b / f, shallow=False)]
    assert not different, (a, b, different)


@pytest.fixture(scope="module")
def small_units():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(shards, "ROW_GROUP_BYTES", ROW_GROUP_BYTES)
        mp.setattr(shards, "UNIT_BYTES", UNIT_BYTES)
        yield


@pytest.fixture(scope="module")
def one_shard(small_units, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("units")
    listing = root / "repos.txt"
    listing.write_text("".join(f"{stdlib_dir() / p}\n" for p in PACKAGES))
    out = root / "files"
    s = Cli().json("crawl", listing, out, "--shard-size", "100000")
    assert s["rows_kept"] > 50
    assert [p.name for p in out.glob("part-*.parquet")] == ["part-00000.parquet"]
    assert pq.ParquetFile(out / "part-00000.parquet").metadata.num_row_groups > 4
    return out


@pytest.fixture(scope="module")
def chain(small_units, one_shard) -> dict[str, dict]:
    """Each stage run three ways on the workers-1 output of the one before: {stage: {way: folder}},
    plus each run's summary under "summary"."""
    cli, root = Cli(), one_shard.parent
    outputs = {"files": one_shard}
    got: dict[str, dict] = {}
    for name, (source, argv) in CHAIN.items():
        inp = outputs[source]
        ways = {w: root / f"{name}-{w}" for w in ("w1", "w2", "ranks")}
        summary = cli.json(argv[0], inp, ways["w1"], *argv[1:])
        cli(argv[0], inp, ways["w2"], *argv[1:], "--workers", "2")
        phases = ["signatures", "buckets", "cluster", "remove"] if name == "dedup" else [None]
        for phase in phases:
            for rank in range(3):
                extra = ["--phase", phase] if phase else []
                cli(argv[0], inp, ways["ranks"], *argv[1:], *extra, "--rank", rank, "--world-size", 3)
        got[name] = {**ways, "summary": summary}
        outputs[name] = ways["w1"]
    return got


@pytest.mark.parametrize("stage", list(CHAIN))
def test_single_shard_is_split_and_outputs_do_not_depend_on_workers_or_ranks(chain, stage):
    runs = chain[stage]
    assert runs["summary"]["shards_total"] > 1, runs["summary"]  # several units from one input shard
    assert_identical(runs["w1"], runs["w2"])
    assert_identical(runs["w1"], runs["ranks"])
    assert runs["summary"]["rows_kept"] > 0


def test_units_keep_repositories_whole(small_units, one_shard, chain):
    """Stages that need whole repositories get them: no repository's rows in two units, and
    topo-sort's samples are exactly one per (repository, component) whatever the cut."""
    for folder in (one_shard, chain["filter"]["w1"]):
        units = shards.plan_units(folder, together="repo")
        assert len(units) > 1
        seen: dict[str, str] = {}
        for unit in units:
            for repo in set(shards.read_unit(unit.inputs[0], columns=["repo"])["repo"].to_pylist()):
                assert seen.setdefault(repo, unit.name) == unit.name, (repo, seen[repo], unit.name)
        assert len(seen) >= len(PACKAGES) - 1
    # tokenize may cut between the samples of a repository: documents are independent
    assert len(shards.plan_units(chain["quality"]["w1"], together=None)) > 1


def test_units_of_a_repository_spread_over_row_groups(tmp_path):
    """A repository whose rows are not contiguous (rows 0-1 and 6-7) keeps the row groups between
    them in its unit; the other cuts stay."""
    rows = [{"repo": r, "content": "x" * 100} for r in "aabbccaaddee"]
    path = tmp_path / "part-00000.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=2)
    slices = shards.shard_slices(path, "repo", unit_bytes=1)
    assert [s["row_groups"] for s in slices] == [[0, 4], [4, 5], [5, 6]]
    assert [s["rows"] for s in slices] == [[0, 8], [8, 10], [10, 12]]
    assert shards.shard_slices(path, None, unit_bytes=1)[1]["row_groups"] == [1, 2]
    assert len(shards.shard_slices(path, "repo")) == 1  # under UNIT_BYTES: the whole file, one unit
    batches = list(shards.iter_unit_batches(slices[0], max_bytes=250))
    assert [b.num_rows for b in batches] == [2, 2, 2, 2]
    assert pa.concat_tables(batches)["repo"].to_pylist() == list("aabbccaa")


def test_row_groups_end_where_repositories_do(tmp_path, monkeypatch):
    """Repositories of 0.6 row groups each: row groups cut by bytes alone would straddle every
    repository boundary and leave the shard one unit; write_shard ends them at repositories."""
    monkeypatch.setattr(shards, "ROW_GROUP_BYTES", 10_000)
    import random
    rng = random.Random(0)

    def text() -> str:  # incompressible, distinct: Parquet's sizes are about the bytes
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz \n") for _ in range(1000))
    rows = [{"repo": f"r{r:02d}", "path": f"{i}.py", "content": text()} for r in range(20) for i in range(6)]
    rows += [{"repo": "big", "path": f"{i}.py", "content": text()} for i in range(35)]  # 3.5 row groups
    path = tmp_path / "part-00000.parquet"
    shards.write_shard(pa.Table.from_pylist(rows), path)
    meta = pq.ParquetFile(path).metadata
    repos = [r["repo"] for r in rows]
    starts = [0]
    for i in range(meta.num_row_groups):
        starts.append(starts[-1] + meta.row_group(i).num_rows)
    inside = [s for s in starts[1:-1] if repos[s] == repos[s - 1]]
    assert inside and {repos[s] for s in inside} == {"big"}  # only the repository larger than a group
    assert all(meta.row_group(i).total_byte_size < 30_000 for i in range(meta.num_row_groups))
    units = shards.plan_units(tmp_path, together="repo", unit_bytes=20_000)
    assert len(units) >= 8
    first = [shards.read_unit(u.inputs[0], ["repo"])["repo"].to_pylist() for u in units]
    assert sum(len(f) for f in first) == len(rows)
    assert len({r for f in first for r in f}) == sum(len(set(f)) for f in first)  # no repository in two units
