"""Data stages as Slurm job arrays on a real one-node cluster: same output as a local run."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from slurm_cluster import LocalSlurm, have_slurm  # noqa: E402

from conftest import read_output, write_files_shards  # noqa: E402

needs_slurm = pytest.mark.skipif(not have_slurm(), reason="Slurm is not installed (make test installs slurm-wlm)")
PACKAGES = ["json", "email", "http", "urllib", "logging", "wsgiref", "xmlrpc", "dbm"]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    cluster = LocalSlurm(tmp_path_factory.mktemp("slurm")).start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def repos(tmp_path_factory) -> Path:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    lst = tmp_path_factory.mktemp("src") / "repos.txt"
    lst.write_text("".join(f"{stdlib / p}\n" for p in PACKAGES))
    return lst


def dscoder(*args, env=None) -> str:
    proc = subprocess.run([sys.executable, "-m", "dscoder_cli", *map(str, args)], capture_output=True,
                          text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def submit(slurm, *args) -> dict:
    return json.loads(dscoder("submit", *args, env=slurm.env))


# Each step: (stage, input, output, extra options). Dedup runs its phases as chained jobs.
def chain(root: Path, repos: Path) -> list[tuple]:
    return [("crawl", repos, root / "files", ["--shard-size", "0.2"]),
            ("filter", root / "files", root / "filtered", []),
            ("topo-sort", root / "filtered", root / "samples", []),
            *[("dedup", root / "samples", root / "dedup", ["--phase", p])
              for p in ("signatures", "buckets", "cluster", "remove")],
            ("tokenize", root / "dedup", root / "tokens", ["--train-tokenizer", "--vocab-size", "512"])]


@needs_slurm
def test_pipeline_as_array_jobs_equals_local_run(slurm, repos, tmp_path):
    local, remote = tmp_path / "local", tmp_path / "slurm"
    for stage, src, out, extra in chain(local, repos):
        dscoder(stage, src, out, *extra)
    previous = None
    for stage, src, out, extra in chain(remote, repos):
        after = ["--after", previous] if previous else []
        result = submit(slurm, stage, src, out, "--array-size", 3, *after, *extra)
        assert Path(result["script"]).read_text().count("#SBATCH --array=0-2") == 1
        previous = result["array_job"]
        last_stats = result["stats_job"]
    # tokenize --train-tokenizer: one job trains the tokenizer, the array waits for it (afterok).
    tokenizer_job = result["tokenizer_job"]
    assert "--tokenizer-only" in Path(result["tokenizer_script"]).read_text()
    assert f"#SBATCH --dependency=afterok:{tokenizer_job}" in Path(result["script"]).read_text()
    slurm.wait(previous, last_stats)
    logs = remote / "tokens/_dscoder/slurm"
    assert "training a byte-level BPE" in (logs / f"{tokenizer_job}.out").read_text()
    tasks = [p.read_text() for p in logs.glob(f"{previous}_*.out")]
    assert len(tasks) == 3 and all("using the tokenizer in" in t and "training" not in t for t in tasks)
    assert len(list((local / "files").glob("part-*.parquet"))) >= 3  # several shards to share out
    for name in ("files", "filtered", "samples", "dedup"):
        assert read_output(remote / name).equals(read_output(local / name)), name
        rejected = local / name / "_rejected"
        if rejected.exists():
            assert read_output(remote / name / "_rejected").equals(read_output(rejected)), name
    stats = json.loads((remote / "tokens/_dscoder/stats.json").read_text())
    assert stats["shards_done"] == stats["shards_total"] and stats["counters"]["tokens"] > 0
    bins = sorted(p.name for p in (local / "tokens").glob("part-*.*"))
    assert bins and bins == sorted(p.name for p in (remote / "tokens").glob("part-*.*"))
    for name in bins + ["tokenizer/tokenizer.json"]:
        assert (remote / "tokens" / name).read_bytes() == (local / "tokens" / name).read_bytes(), name


@needs_slurm
def test_cancelled_task_resubmitted_redoes_only_missing_shards(slurm, repos, tmp_path):
    dscoder("crawl", repos, tmp_path / "files", "--shard-size", "0.2")
    dscoder("filter", tmp_path / "files", tmp_path / "reference")
    out = tmp_path / "filtered"
    # Two CPUs per task on a two-CPU node: tasks run one at a time, so task 2 is still pending.
    first = submit(slurm, "filter", tmp_path / "files", out, "--array-size", 3, "--cpus-per-task", 2)
    subprocess.run(["scancel", f"{first['array_job']}_2"], env=slurm.env, check=True)
    slurm.wait(first["array_job"], first["stats_job"])
    status = json.loads(dscoder("status", out, "--json"))
    assert status["shards_pending"], "the cancelled task's shards should be missing"
    done_before = {p.name: p.stat().st_mtime_ns for p in (out / "_dscoder/done").glob("*.json")}
    second = submit(slurm, "filter", tmp_path / "files", out, "--array-size", 3)
    slurm.wait(second["array_job"], second["stats_job"])
    status = json.loads(dscoder("status", out, "--json"))
    assert status["complete"] and status["shards_done"] == status["shards_total"]
    # Shards finished by the first submission were not redone.
    assert all((out / "_dscoder/done" / n).stat().st_mtime_ns == t for n, t in done_before.items())
    assert read_output(out).equals(read_output(tmp_path / "reference"))


def _squeue(slurm, job: str, fmt: str) -> str:
    return subprocess.run(["squeue", "-h", "-j", job, "-o", fmt], env=slurm.env, capture_output=True,
                          text=True).stdout.strip()


@needs_slurm
def test_failed_array_task_keeps_the_dependent_job_from_starting(slurm, tmp_path):
    """A task whose shard fails exits 1, so the next stage (`--after`: afterok) never starts; the
    stats job (afterany) still records what failed."""
    src = write_files_shards(tmp_path / "files", n_shards=3, rows_per_shard=20)
    (src / "part-00001.parquet").write_bytes(b"PAR1 not parquet")  # task 1's shard
    out, nxt = tmp_path / "filtered", tmp_path / "samples"
    first = submit(slurm, "filter", src, out, "--array-size", 3)
    second = submit(slurm, "topo-sort", out, nxt, "--array-size", 3, "--after", first["array_job"])
    slurm.wait(first["array_job"], first["stats_job"])
    try:
        codes = {}
        for task in range(3):
            info = subprocess.run(["scontrol", "-o", "show", "job", f"{first['array_job']}_{task}"], env=slurm.env,
                                  capture_output=True, text=True).stdout
            codes[task] = info.split("ExitCode=", 1)[1].split()[0]
        assert codes == {0: "0:0", 1: "1:0", 2: "0:0"}, codes
        log = (out / "_dscoder/slurm" / f"{first['array_job']}_1.out").read_text()
        assert "1 of 1 shards failed (part-00001: CorruptShard" in log
        assert "DependencyNeverSatisfied" in _squeue(slurm, second["array_job"], "%r")
        assert not (nxt / "_dscoder/manifest.json").exists() and not list(nxt.glob("part-*"))
        status = json.loads(dscoder("status", out, "--json"))
        assert status["shards_failed"] == ["part-00001"] and status["shards_done"] == 2
    finally:
        subprocess.run(["scancel", second["array_job"], second["stats_job"]], env=slurm.env)
    slurm.wait(second["array_job"], second["stats_job"])


def test_submit_refuses_non_data_stage_and_rank_options(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "dscoder_cli", "submit", "status", "a", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    proc = subprocess.run([sys.executable, "-m", "dscoder_cli", "submit", "filter", "a", str(tmp_path / "o"),
                           "--dry-run", "--rank", "1"], capture_output=True, text=True)
    assert proc.returncode == 2 and "--rank" in proc.stderr


@needs_slurm
def test_training_stage_runs_as_srun_job(slurm, repos, tmp_path):
    """`dscoder submit pretrain` on one node × 2 tasks: srun starts two gloo ranks (TP=2)."""
    dscoder("crawl", repos, tmp_path / "files")
    dscoder("tokenize", tmp_path / "files", tmp_path / "tokens", "--train-tokenizer", "--vocab-size", 512)
    out = tmp_path / "run"
    result = submit(slurm, "pretrain", tmp_path / "tokens", out, "--nodes", 1, "--gpus-per-node", 2, "--cpu-only",
                    "--model", "tiny", "--steps", 3, "--tp", 2, "--seq-length", 64, "--global-batch", 4,
                    "--micro-batch", 2, "--warmup-steps", 1)
    script = Path(result["script"]).read_text()
    assert "#SBATCH --ntasks-per-node=2" in script and "srun " in script and "--gpus-per-node" not in script
    slurm.wait(result["job"], timeout=600)
    log = "".join(p.read_text() for p in (out / "_slurm").glob("*.out"))
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics if "loss" in m] == [1, 2, 3], log[-3000:]  # (validation rows: val_loss)
    assert (out / "checkpoints").is_dir()


def test_submit_training_script_keeps_checkpoint_data_output_order(tmp_path):
    """extend-context/instruct take CHECKPOINT DATA... OUTPUT; the script must pass them in order."""
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "data.jsonl").write_text("")
    proc = subprocess.run([sys.executable, "-m", "dscoder_cli", "submit", "instruct", str(tmp_path / "ckpt"),
                           str(tmp_path / "data.jsonl"), str(tmp_path / "out"), "--nodes", "2",
                           "--gpus-per-node", "4", "--dry-run", "--steps", "5"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    script = Path(json.loads(proc.stdout)["script"])
    assert script.parent == tmp_path / "out" / "_slurm"
    text = script.read_text()
    assert "#SBATCH --nodes=2" in text and "#SBATCH --gpus-per-node=4" in text
    assert text.rstrip().endswith(f"instruct {tmp_path / 'ckpt'} {tmp_path / 'data.jsonl'} {tmp_path / 'out'} --steps 5")
