"""`dscoder dedup --prefer`: a cluster's survivor chosen by sample metadata (stars, licence, date)."""

from __future__ import annotations

import json
import random
import sys
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from dedup_fixtures import edit_tokens, read_parts, stdlib_files  # noqa: E402

from stages.core.errors import UsageError  # noqa: E402
from stages.core.schemas import SAMPLES_SCHEMA  # noqa: E402
from stages.dedup.clustering import preference_ranks  # noqa: E402
from stages.dedup.config import SURVIVOR_RULE, DedupConfig  # noqa: E402

# The samples schema plus the metadata --prefer reads (docs/dedup.md#survivor).
META_SCHEMA = SAMPLES_SCHEMA.append(pa.field("stars", pa.int64())).append(pa.field("license", pa.string())) \
    .append(pa.field("repo_created_at", pa.timestamp("us", tz="UTC")))


def _date(year: int) -> datetime:
    return datetime(year, 6, 1, tzinfo=timezone.utc)


# One cluster per original file: the copies differ in repository metadata. (repo, stars, license,
# created, n_files): `big` has the most files (today's survivor), `popular` the most stars, `mit`
# the only permissive licence, `new` the newest repository, `old` the oldest one.
COPIES = [("big", 3, "GPL-3.0-only", 2015, 2), ("popular", 900, None, 2018, 1), ("mit", 10, "MIT", None, 1),
          ("new", None, "GPL-2.0-only", 2022, 1), ("old", 5, None, 2009, 1)]


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> Path:
    rng = random.Random(3)
    rows = []
    for i, (path, text) in enumerate(stdlib_files(6, seed=5)):
        for repo, stars, lic, year, n_files in COPIES:
            body = text if repo in ("big", "popular") else edit_tokens(text, 0.01, rng)  # exact and near copies
            rows.append({"sample_id": f"{repo}{i}#0", "repo": f"{repo}{i}", "lang": "Python",
                         "paths": [path] * n_files, "text": body, "n_files": n_files, "size": len(body.encode()),
                         "stars": stars, "license": lic, "repo_created_at": _date(year) if year else None})
    folder = tmp_path_factory.mktemp("prefer") / "in"
    folder.mkdir()
    for s in range(2):
        pq.write_table(pa.Table.from_pylist(rows[s::2], schema=META_SCHEMA), folder / f"part-{s:05d}.parquet")
    return folder


def survivors(out: Path) -> set[str]:
    """The repository name (without the file index) of each cluster's survivor."""
    kept = read_parts(out / "_rejected")["kept_sample_id"].to_pylist()
    return {k.split("#")[0].rstrip("0123456789") for k in kept}


@pytest.mark.parametrize("prefer,expected", [
    (None, {"big"}),  # today's rule: most files
    ("stars", {"popular"}), ("license", {"mit"}), ("recent", {"new"}), ("oldest", {"old"}),
    ("license,stars", {"mit"}),
    ("stars,recent", {"popular"}),
])
def test_survivor_follows_the_preferences_then_todays_rule(cli, samples, tmp_path, prefer, expected):
    args = ["--prefer", prefer] if prefer else []
    s = cli.json("dedup", samples, tmp_path / "out", *args)
    assert s["rows_in"] == 30 and s["rows_kept"] == 6 and s["rows_rejected"] == 24, s
    assert survivors(tmp_path / "out") == expected
    manifest = json.loads((tmp_path / "out/_dscoder/manifest.json").read_text())
    names = {"stars": "most_stars", "license": "permissive_license", "recent": "newest_repo", "oldest": "oldest_repo"}
    rule = ",".join([names[k] for k in (prefer or "").split(",") if k] + [SURVIVOR_RULE])
    assert manifest["options"]["survivor"] == rule


def test_default_is_unchanged_by_metadata_columns(cli, samples, tmp_path):
    """Without --prefer, metadata columns change nothing: the same survivors and removal map as
    the same samples without them, and the manifest's survivor rule is today's."""
    bare = tmp_path / "bare"
    bare.mkdir()
    for part in sorted(samples.glob("part-*.parquet")):
        pq.write_table(pq.read_table(part).select(SAMPLES_SCHEMA.names).cast(SAMPLES_SCHEMA), bare / part.name)
    cli.json("dedup", samples, tmp_path / "a")
    cli.json("dedup", bare, tmp_path / "b")
    a, b = read_parts(tmp_path / "a/_rejected"), read_parts(tmp_path / "b/_rejected")
    assert a.select(["sample_id", "reason", "cluster_id", "kept_sample_id"]).equals(
        b.select(["sample_id", "reason", "cluster_id", "kept_sample_id"]))
    sig_a = json.loads((tmp_path / "a/_dscoder/phases/signatures/_dscoder/manifest.json").read_text())["options"]
    assert "prefer" not in sig_a
    assert json.loads((tmp_path / "a/_dscoder/manifest.json").read_text())["options"]["survivor"] == SURVIVOR_RULE


def test_changed_preference_is_a_changed_output(cli, samples, tmp_path):
    cli.json("dedup", samples, tmp_path / "out", "--prefer", "stars")
    r = cli("dedup", samples, tmp_path / "out", "--prefer", "license", expect=2)
    assert "prefer" in r.stderr


def test_missing_or_mistyped_columns_and_bad_keys_are_usage_errors(cli, samples, tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    pq.write_table(pq.read_table(next(samples.glob("part-*.parquet"))).drop_columns(["stars"]),
                   bare / "part-00000.parquet")
    r = cli("dedup", bare, tmp_path / "o1", "--prefer", "license,stars", expect=2)
    assert "--prefer stars" in r.stderr and "no `stars` column" in r.stderr
    assert not (tmp_path / "o1").exists()  # refused before anything is written
    typed = tmp_path / "typed"
    typed.mkdir()
    t = pq.read_table(next(samples.glob("part-*.parquet")))
    t = t.set_column(t.column_names.index("stars"), "stars", t["stars"].cast(pa.string()))
    pq.write_table(t, typed / "part-00000.parquet")
    assert "not an integer" in cli("dedup", typed, tmp_path / "o2", "--prefer", "stars", expect=2).stderr
    assert "unknown preference forks" in cli("dedup", samples, tmp_path / "o3", "--prefer", "forks", expect=2).stderr
    assert "not both" in cli("dedup", samples, tmp_path / "o4", "--prefer", "recent,oldest", expect=2).stderr
    with pytest.raises(UsageError, match="unknown preference"):
        DedupConfig(input=samples, output=tmp_path / "o5", prefer=("size",))


def test_preference_ranks_put_missing_values_last():
    t = pa.table({"stars": pa.array([5, None, 0, 900], pa.int64()),
                  "license": pa.array(["GPL-3.0-only", "MIT", None, "Apache-2.0"]),
                  "repo_created_at": pa.array([_date(2010), None, _date(2020), _date(2015)],
                                              pa.timestamp("us", tz="UTC"))})
    ranks = {k: v.to_pylist() for k, v in preference_ranks(t, ("stars", "license", "recent", "oldest")).items()}
    order = {k: sorted(range(4), key=lambda i: v[i]) for k, v in ranks.items()}
    assert order["prefer_stars"] == [3, 0, 2, 1]
    assert order["prefer_license"][:2] in ([1, 3], [3, 1]) and order["prefer_license"][2:] == [0, 2]
    assert order["prefer_recent"] == [2, 3, 0, 1] and order["prefer_oldest"] == [0, 3, 2, 1]
