"""The stage contract (docs/architecture.md), exercised through `dscoder filter`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from conftest import read_output, write_files_shards


def test_counts_add_up_and_rejected_have_reasons(cli, files_input, tmp_path):
    out = tmp_path / "out"
    summary = cli.json("filter", files_input, out)
    assert summary["shards_done"] == summary["shards_total"] == 6
    assert summary["rows_in"] == 300 == summary["rows_kept"] + summary["rows_rejected"]
    assert summary["rows_rejected"] > 0 and summary["rows_kept"] > 0
    rejected = read_output(out / "_rejected")
    assert rejected.num_rows == summary["rows_rejected"]
    reasons = rejected["reason"].to_pylist()
    assert None not in reasons
    per_rule = {k.split(":", 1)[1]: v for k, v in summary["counters"].items() if k.startswith("rejected:")}
    assert sum(per_rule.values()) == summary["rows_rejected"]
    assert {r: reasons.count(r) for r in set(reasons)} == per_rule
    # The stats file and the done-markers say the same.
    stats = json.loads((out / "_dscoder/stats.json").read_text())
    assert stats["rows_kept"] == summary["rows_kept"]
    assert len(list((out / "_dscoder/done").glob("*.json"))) == 6


def test_deterministic_and_workers_give_same_output(cli, files_input, tmp_path):
    cli("filter", files_input, tmp_path / "a")
    cli("filter", files_input, tmp_path / "b", "--workers", "2")
    for name in [f"part-{i:05d}.parquet" for i in range(6)]:
        assert pq.read_table(tmp_path / "a" / name).equals(pq.read_table(tmp_path / "b" / name))
        ra, rb = tmp_path / "a/_rejected" / name, tmp_path / "b/_rejected" / name
        assert ra.exists() == rb.exists()
        if ra.exists():
            assert pq.read_table(ra).equals(pq.read_table(rb))


@pytest.mark.parametrize("via_slurm_env", [False, True])
def test_ranks_together_equal_one_rank(cli, files_input, tmp_path, via_slurm_env):
    cli("filter", files_input, tmp_path / "one")
    out = tmp_path / "ranked"
    for rank in range(4):  # 6 shards over 4 ranks: uneven on purpose
        if via_slurm_env:
            # Slurm array ids may start anywhere (--array=3-6).
            env = {"SLURM_ARRAY_TASK_ID": str(rank + 3), "SLURM_ARRAY_TASK_MIN": "3",
                   "SLURM_ARRAY_TASK_COUNT": "4"}
            s = cli.json("filter", files_input, out, env=env)
        else:
            s = cli.json("filter", files_input, out, "--rank", rank, "--world-size", 4)
        assert s["this_run"]["shards_done"] == len(range(rank, 6, 4))
    assert s["shards_done"] == 6  # the last rank's summary merges every rank's markers
    assert read_output(out).equals(read_output(tmp_path / "one"))
    assert read_output(out / "_rejected").equals(read_output(tmp_path / "one/_rejected"))


def test_bad_rank_is_usage_error(cli, files_input, tmp_path):
    r = cli("filter", files_input, tmp_path / "o", "--rank", 4, "--world-size", 4, expect=2)
    assert "outside --world-size" in r.stderr


def test_changed_options_refused_then_overwrite(cli, files_input, tmp_path):
    out = tmp_path / "out"
    first = cli.json("filter", files_input, out)
    r = cli("filter", files_input, out, "--min-alpha-fraction", "0.9", expect=2)
    assert "options changed" in r.stderr
    assert "rules.alpha_fraction/v1.min_alpha_fraction: 0.25 -> 0.9" in r.stderr and "--overwrite" in r.stderr
    again = cli.json("filter", files_input, out)  # same options: a no-op resume
    assert again["this_run"]["shards_skipped"] == 6 and again["rows_kept"] == first["rows_kept"]
    stricter = cli.json("filter", files_input, out, "--min-alpha-fraction", "0.9", "--overwrite")
    assert stricter["this_run"]["shards_done"] == 6
    assert stricter["rows_kept"] < first["rows_kept"]


def test_input_changed_refused(cli, files_input, tmp_path):
    out = tmp_path / "out"
    cli("filter", files_input, out)
    write_files_shards(files_input, n_shards=7, rows_per_shard=50)  # one more shard appears
    r = cli("filter", files_input, out, expect=2)
    assert "input shards changed" in r.stderr and "part-00006" in r.stderr


def test_refuses_foreign_output_folder(cli, files_input, tmp_path):
    foreign = tmp_path / "precious"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("do not delete")
    r = cli("filter", files_input, foreign, expect=2)
    assert "not a dscoder output" in r.stderr
    cli("filter", files_input, foreign, "--overwrite", expect=2)
    assert (foreign / "thesis.tex").exists()


def test_usage_errors_exit_2(cli, tmp_path):
    assert "does not exist" in cli("filter", tmp_path / "missing", tmp_path / "o", expect=2).stderr
    (tmp_path / "empty").mkdir()
    assert "no part-*.parquet" in cli("filter", tmp_path / "empty", tmp_path / "o", expect=2).stderr
    cli("filter", tmp_path / "empty", tmp_path / "o", "--workers", "0", expect=2)
    cli("filter", tmp_path / "empty", tmp_path / "o", "--rules", "nonsense", expect=2)


def test_corrupt_shard_reported_rest_done_run_exits_1_unless_keep_going(cli, files_input, tmp_path):
    (files_input / "part-00002.parquet").write_bytes(b"PAR1 this is not parquet")
    out = tmp_path / "out"
    r = cli("filter", files_input, out, "--json", expect=1)  # the rest went on, but the run failed
    s = json.loads(r.stdout)
    assert s["shards_done"] == 5 and s["shards_failed"] == ["part-00002"]
    assert "1 of 6 shards failed (part-00002: CorruptShard" in r.stderr and "--keep-going" in r.stderr
    assert "Traceback" not in r.stderr
    errors = [json.loads(line) for line in (out / "_dscoder/errors.jsonl").read_text().splitlines()]
    assert len(errors) == 1 and errors[0]["unit"] == "part-00002"
    assert "part-00002.parquet" in errors[0]["error"] and "Parquet" in errors[0]["error"]
    s = cli.json("filter", files_input, out, "--keep-going")  # exit 0: reported, retried, still failing
    assert s["this_run"]["shards_failed"] == ["part-00002"] and s["this_run"]["shards_skipped"] == 5


def test_failed_shard_retried_after_fix(cli, files_input, tmp_path):
    good = (files_input / "part-00002.parquet").read_bytes()
    (files_input / "part-00002.parquet").write_bytes(b"x" * len(good))  # same size: passes the input check
    out = tmp_path / "out"
    assert cli.json("filter", files_input, out, expect=1)["shards_failed"] == ["part-00002"]
    (files_input / "part-00002.parquet").write_bytes(good)
    s = cli.json("filter", files_input, out, "--strict")
    assert s["shards_failed"] == [] and s["shards_done"] == 6 and s["this_run"]["shards_done"] == 1
    assert list((out / "_dscoder/failed").glob("*.json")) == []
    assert (out / "_dscoder/errors.jsonl").read_text() == ""


def test_unit_without_marker_is_redone_and_stale_tmp_removed(cli, files_input, tmp_path):
    """The states a kill can leave: a renamed shard without its marker, a half-written temp file."""
    out = tmp_path / "out"
    cli("filter", files_input, out)
    reference = read_output(out)
    (out / "_dscoder/done/part-00003.json").unlink()
    (out / "part-00003.parquet").write_bytes(b"torn")
    (out / ".part-00004.parquet.tmp-99999").write_bytes(b"half")
    (out / "_dscoder/done/part-00004.json").unlink()
    s = cli.json("filter", files_input, out)
    assert s["this_run"]["shards_done"] == 2
    assert read_output(out).equals(reference)
    assert not list(out.glob(".*tmp-*"))


def test_sigkill_then_resume_equals_uninterrupted(tmp_path):
    """SIGKILL a real `dscoder filter` part-way; the re-run completes to the uninterrupted result."""
    src = write_files_shards(tmp_path / "files", n_shards=40, rows_per_shard=400)
    cmd = [sys.executable, "-m", "dscoder_cli", "filter", str(src)]
    subprocess.run(cmd + [str(tmp_path / "ref")], check=True, capture_output=True)
    out = tmp_path / "out"
    proc = subprocess.Popen(cmd + [str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done = out / "_dscoder/done"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(done.glob("*.json"))) < 3:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_done = len(list(done.glob("*.json")))
    assert 3 <= n_done < 40, f"kill landed at {n_done}/40 shards; the test needs a part-way kill"
    rerun = subprocess.run(cmd + [str(out), "--json"], check=True, capture_output=True, text=True)
    summary = json.loads(rerun.stdout)
    assert summary["this_run"]["shards_skipped"] == n_done
    assert summary["shards_done"] == 40
    assert read_output(out).equals(read_output(tmp_path / "ref"))
    assert read_output(out / "_rejected").equals(read_output(tmp_path / "ref/_rejected"))


def test_plain_progress_lines_when_not_a_tty(cli, files_input, tmp_path):
    r = cli("filter", files_input, tmp_path / "o")
    assert "filter: 6 shards to do" in r.stderr
    assert "part-00005 done [" in r.stderr
    assert "rows kept" in r.stdout  # the summary table


def test_rich_progress_on_a_terminal(files_input, tmp_path):
    from io import StringIO

    from rich.console import Console

    from dscoder_cli.progress import RichReporter
    from stages.core.runner import RunOptions, run_stage
    from stages.filter.config import FilterConfig
    from stages.filter.stage import FilterStage

    buf = StringIO()
    reporter = RichReporter(Console(file=buf, force_terminal=True, width=150))
    run_stage(FilterStage(FilterConfig(input=files_input)), RunOptions(output=tmp_path / "o", reporter=reporter))
    text = buf.getvalue()
    assert "filter" in text and "shards 6/6" in text and "rows 300" in text


def test_status(cli, files_input, tmp_path):
    out = tmp_path / "out"
    cli("filter", files_input, out, "--rank", 0, "--world-size", 2)
    info = cli.json("status", out)
    assert info["stage"] == "filter" and info["shards_done"] == 3 and info["shards_total"] == 6
    assert info["shards_pending"] == ["part-00001", "part-00003", "part-00005"]
    assert info["options"]["rules"]["avg_line_length/v1"] == {"max_avg_line_length": 100}
    text = cli("status", out).stdout
    assert "3 shards pending" in text and "rows in" in text
    # a folder holding stage outputs is a pipeline (#21); one holding none is not a dscoder output
    assert "not a dscoder output" in cli("status", files_input, expect=2).stderr


def test_version_and_help(cli):
    assert cli("--version").stdout.strip().startswith("dscoder ")
    text = cli("--help").stdout
    for stage in ("crawl", "filter", "status"):
        assert stage in text
