"""`dscoder dedup` through the CLI: phases, ranks, resume after SIGKILL, refusals."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from dedup_fixtures import kept_ids, planted_corpus, read_parts, sample_row, write_samples  # noqa: E402

PHASES = ["signatures", "buckets", "cluster", "remove"]


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> Path:
    rows, _ = planted_corpus(n_originals=30, n_unrelated=20, seed=1)
    rows += [sample_row("short#0", "s.py", "x = 1\n"), sample_row("short#1", "t.py", "x = 1\n"),
             sample_row("empty#0", "e.py", "")]
    return write_samples(tmp_path_factory.mktemp("cli") / "in", rows, n_shards=5)


@pytest.fixture(scope="module")
def reference(samples, tmp_path_factory) -> Path:
    from typer.testing import CliRunner

    from dscoder_cli.app import app
    out = tmp_path_factory.mktemp("ref") / "out"
    r = CliRunner().invoke(app, ["dedup", str(samples), str(out), "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    return out


def test_all_phases_summary_and_layout(cli, samples, tmp_path):
    out = tmp_path / "out"
    s = cli.json("dedup", samples, out, "--workers", "2")
    assert s["stage"] == "dedup" and s["rows_in"] == s["rows_kept"] + s["rows_rejected"]
    assert set(s["phases"]) == set(PHASES)
    rejected = read_parts(out / "_rejected")
    assert rejected.num_rows == s["rows_rejected"] > 0
    counters = s["counters"]
    assert counters["rejected:exact_duplicate"] + counters["rejected:near_duplicate"] == s["rows_rejected"]
    assert {"reason", "cluster_id", "kept_sample_id"} <= set(rejected.column_names)
    ids = set(kept_ids(out))
    assert ("short#0" in ids) != ("short#1" in ids)  # under 5 tokens: exact dedup only
    assert "empty#0" in ids
    for phase in PHASES[:3]:
        assert json.loads((out / f"_dscoder/phases/{phase}/_dscoder/stats.json").read_text())["shards_failed"] == []
    again = cli.json("dedup", samples, out)  # a finished run is a no-op
    assert again["this_run"]["shards_skipped"] == 5 and again["rows_kept"] == s["rows_kept"]


def test_three_ranks_per_phase_equal_one_rank(cli, samples, reference, tmp_path):
    out = tmp_path / "ranked"
    for phase in PHASES:
        for rank in range(3):
            s = cli.json("dedup", samples, out, "--phase", phase, "--rank", rank, "--world-size", 3)
            assert s["rank"] == rank
        if phase == "cluster":
            assert s["shards_total"] == 1
    ref = read_parts(reference)
    assert read_parts(out).equals(ref)
    assert read_parts(out / "_rejected").equals(read_parts(reference / "_rejected"))


def test_phase_before_its_input_is_refused(cli, samples, tmp_path):
    out = tmp_path / "out"
    r = cli("dedup", samples, out, "--phase", "buckets", expect=2)
    assert "phase `signatures` is not complete" in r.stderr
    cli("dedup", samples, out, "--phase", "signatures", "--rank", 0, "--world-size", 2)
    r = cli("dedup", samples, out, "--phase", "buckets", expect=2)
    assert "units missing" in r.stderr
    r = cli("dedup", samples, out, "--world-size", 2, "--rank", 1, expect=2)
    assert "--phase all" in r.stderr


def test_changed_options_refused_and_overwrite(cli, samples, reference, tmp_path):
    out = tmp_path / "out"
    cli("dedup", samples, out, "--phase", "signatures")
    r = cli("dedup", samples, out, "--seed", "7", expect=2)
    assert "options changed" in r.stderr and "seed" in r.stderr
    s = cli.json("dedup", samples, out, "--threshold", "0.9", "--overwrite")
    assert s["rows_kept"] >= len(kept_ids(reference))


def test_usage_errors(cli, samples, tmp_path):
    foreign = tmp_path / "precious"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    assert "not a dscoder output" in cli("dedup", samples, foreign, expect=2).stderr
    cli("dedup", samples, foreign, "--overwrite", expect=2)
    assert (foreign / "notes.txt").exists()
    cli("dedup", samples, tmp_path / "o", "--phase", "nonsense", expect=2)
    cli("dedup", samples, tmp_path / "o", "--bands", "30", "--rows", "10", expect=2)  # 300 > 256
    cli("dedup", samples, tmp_path / "o", "--bands", "30", expect=2)
    cli("dedup", samples, tmp_path / "o", "--minhash-backend", "torch", expect=2)


def test_sigkill_each_phase_then_resume_equals_uninterrupted(samples, reference, tmp_path):
    """SIGKILL a real `dscoder dedup` as soon as some phase has a done-marker; resuming completes it."""
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "dscoder_cli", "dedup", str(samples), str(out)]
    killed = 0
    for phase, marker_dir in [("signatures", out / "_dscoder/phases/signatures/_dscoder/done"),
                              ("buckets", out / "_dscoder/phases/buckets/_dscoder/done"),
                              ("remove", out / "_dscoder/done")]:
        proc = subprocess.Popen(cmd + ["--phase", phase], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(marker_dir.glob("*.json")) and proc.poll() is None:
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        killed += proc.wait() == -signal.SIGKILL
        if phase == "buckets":
            subprocess.run(cmd + ["--phase", "buckets"], check=True, capture_output=True)
            subprocess.run(cmd + ["--phase", "cluster"], check=True, capture_output=True)
        elif phase == "signatures":
            subprocess.run(cmd + ["--phase", "signatures"], check=True, capture_output=True)
    assert killed >= 1  # at least one phase really was cut short
    subprocess.run(cmd, check=True, capture_output=True)  # `all` finishes whatever is left
    assert read_parts(out).equals(read_parts(reference))
    assert read_parts(out / "_rejected").equals(read_parts(reference / "_rejected"))
    assert not list(out.rglob(".*tmp-*"))


def test_files_without_required_columns_fail_clearly(cli, tmp_path):
    folder = tmp_path / "files"
    folder.mkdir()
    pq.write_table(pa.table({"content": ["a b c d e f"]}), folder / "part-00000.parquet")
    out = tmp_path / "out"
    r = cli("dedup", folder, out, "--phase", "signatures", "--json", expect=1)  # a failed unit: exit 1
    assert json.loads(r.stdout)["shards_failed"] == ["part-00000"]
    assert "no column `sample_id`, `text` in" in (out / "_dscoder/phases/signatures/_dscoder/errors.jsonl").read_text()
    # the failing phase stops the run, naming its error (not "run `--phase signatures` first")
    err = cli("dedup", folder, out, expect=1).stderr
    assert "no column `sample_id`" in err and "Traceback" not in err and "first" not in err
    # and a later phase run alone names the failure instead of asking for the phase that just failed
    err = cli("dedup", folder, out, "--phase", "buckets", expect=1).stderr
    assert "phase `signatures` failed on 1 unit(s) (part-00000: UsageError: no column `sample_id`" in err
