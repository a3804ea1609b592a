"""Issue 16, dedup: --verify checks the edges that decide the clusters (each sample shingled once),
a corrupt input is named, wrong column types are one line, the progress counter restarts per phase."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from dedup_fixtures import kept_ids, planted_corpus, read_parts, sample_row, write_samples  # noqa: E402

from stages.dedup.config import DedupConfig  # noqa: E402
from stages.dedup.stage import hasher_of  # noqa: E402

TINY = ["--ngram", "1", "--num-perm", "1", "--bands", "1", "--rows", "1"]


def _tokens_by_minhash(n: int) -> list[str]:
    """`n` identifiers sorted by their one-permutation MinHash value (ngram 1: a token is a shingle)."""
    h = hasher_of(DedupConfig(input=Path("."), output=Path("."), ngram=1, num_perm=1, bands=1, rows=1))
    words = [f"w{i:04d}" for i in range(4 * n)]
    sig, _ = h.signatures(pa.array(words, pa.large_string()))
    return [w for _, w in sorted(zip(sig[:, 0].tolist(), words))][:n]


def _three_one_line_files(tmp_path: Path) -> Path:
    """A, B, C share the token of least MinHash, so one permutation puts all three in one bucket
    whose smallest key is A; A is a false positive of both, while J(B, C) = 17/20 = 0.85."""
    t = _tokens_by_minhash(60)
    least, rest = t[0], t[1:]
    a = [least] + rest[:20]
    b = [least] + rest[20:36]
    c = b + rest[36:39]
    rows = [sample_row(f"{n}#0", f"{n}.py", " ".join(words) + "\n") for n, words in (("a", a), ("b", b), ("c", c))]
    return write_samples(tmp_path / "in", rows, n_shards=1)


def test_verify_checks_every_pair_that_would_join_two_samples(cli, tmp_path):
    src = _three_one_line_files(tmp_path)
    unverified = cli.json("dedup", src, tmp_path / "plain", *TINY)
    assert sorted(kept_ids(tmp_path / "plain")) == ["b#0", "c#0"] or unverified["rows_rejected"] == 2
    s = cli.json("dedup", src, tmp_path / "verified", *TINY, "--verify")
    assert sorted(kept_ids(tmp_path / "verified")) == ["a#0", "c#0"]  # b and c are one cluster
    (dropped,) = read_parts(tmp_path / "verified/_rejected").to_pylist()
    assert (dropped["sample_id"], dropped["kept_sample_id"], dropped["reason"]) == ("b#0", "c#0", "near_duplicate")
    assert s["rows_in"] == 3 and s["rows_rejected"] == 1


def test_verify_shingles_each_sample_once(cli, tmp_path, monkeypatch):
    rows, _ = planted_corpus(n_originals=12, n_unrelated=4, seed=3)
    src = write_samples(tmp_path / "in", rows, n_shards=3)
    calls: list[int] = []
    from stages.dedup.minhash import MinHasher
    real = MinHasher.shingles

    def counting(self, texts):
        calls.append(len(texts))
        return real(self, texts)

    monkeypatch.setattr(MinHasher, "shingles", counting)
    s = cli.json("dedup", src, tmp_path / "out", "--verify")
    assert sum(calls) <= len(rows)  # before: each candidate once per band it was a candidate in
    cluster = json.loads((tmp_path / "out/_dscoder/phases/cluster/_dscoder/stats.json").read_text())["counters"]
    n_candidates = cluster.get("verify_samples", 0)
    assert 0 < n_candidates <= len(rows)
    assert sum(calls) == n_candidates  # not once per band: 25 bands would read each many times
    # --verify never keeps more than without it, and removes no pair below the threshold
    plain = cli.json("dedup", src, tmp_path / "plain")
    assert s["rows_rejected"] <= plain["rows_rejected"]


def test_corrupt_input_is_named_not_run_signatures_first(cli, tmp_path):
    rows, _ = planted_corpus(n_originals=4, n_unrelated=2, seed=2)
    src = write_samples(tmp_path / "in", rows, n_shards=2)
    (src / "part-00001.parquet").write_bytes(b"PAR1 this is not parquet")
    r = cli("dedup", src, tmp_path / "out", "--json", expect=None)
    assert r.exit_code != 0
    assert "part-00001" in r.stderr and "cannot read Parquet" in r.stderr
    assert "first" not in r.stderr.split("error:")[-1]  # not "run `--phase signatures` first"
    r2 = cli("dedup", src, tmp_path / "out", "--phase", "buckets", expect=None)
    assert r2.exit_code != 0 and "part-00001" in r2.stderr and "cannot read Parquet" in r2.stderr


def test_wrong_column_types_are_one_line(cli, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    pq.write_table(pa.table({"sample_id": [1, 2], "text": ["a b c d e f", "g h i j k l"]}), src / "part-00000.parquet")
    r = cli("dedup", src, tmp_path / "out", expect=None)
    assert r.exit_code != 0
    assert f"column `sample_id` in {src / 'part-00000.parquet'} is int64, expected string" in r.stderr
    pq.write_table(pa.table({"id": ["x"], "text": ["a b c d e f"]}), src / "part-00000.parquet")
    r = cli("dedup", src, tmp_path / "out2", expect=None)
    assert f"no column `sample_id` in {src / 'part-00000.parquet'} (columns: id, text)" in r.stderr


def test_progress_counter_restarts_per_phase(tmp_path):
    import io

    from dscoder_cli.progress import PlainReporter
    from stages.core.runner import RunOptions
    from stages.dedup.stage import run

    rows, _ = planted_corpus(n_originals=4, n_unrelated=2, seed=4)
    src = write_samples(tmp_path / "in", rows, n_shards=3)
    stream = io.StringIO()
    config = DedupConfig(input=src, output=tmp_path / "out")
    run(config, RunOptions(output=tmp_path / "out", reporter=PlainReporter(stream)))
    counts = [line.split("[")[2].split("]")[0] for line in stream.getvalue().splitlines() if " done [" in line]
    assert counts[:3] == ["1/3", "2/3", "3/3"]  # signatures
    assert all(int(a) <= int(b) for a, b in (c.split("/") for c in counts))  # never [33/3]
    assert counts[-3:] == ["1/3", "2/3", "3/3"]  # remove
