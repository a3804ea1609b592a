"""Safe failure (issue 16, the shared mechanisms): --overwrite never deletes an input, partial inputs
are never taken for whole, one writer per output, workers die with their runner, one-line errors,
options checked before anything is written, Parquet dscoder writes is readable, leftovers cleaned."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import read_output, write_files_shards

DSCODER = [sys.executable, "-m", "dscoder_cli"]


def run(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*DSCODER, *map(str, args)], capture_output=True, text=True, **kw)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
            and "locks" not in p.parts}


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.fixture
def filtered(cli, files_input, tmp_path) -> Path:
    """A complete dscoder output (filter of 6 shards), the input of the next stage."""
    out = tmp_path / "filtered"
    cli("filter", files_input, out)
    return out


# -- 1. --overwrite never deletes an input ---------------------------------------------------------

STAGE_ARGS = {"filter": [], "topo-sort": [], "dedup": [], "tokenize": ["--train-tokenizer"]}


@pytest.mark.parametrize("stage", sorted(STAGE_ARGS))
def test_overwrite_never_deletes_the_input(cli, filtered, tmp_path, stage):
    before = snapshot(filtered)
    extra = STAGE_ARGS[stage]
    # INPUT = OUTPUT: refused without recommending --overwrite, and --overwrite is refused too.
    r = cli(stage, filtered, filtered, *extra, expect=2)
    assert "both an input and the output" in r.stderr and "--overwrite" not in r.stderr
    r = cli(stage, filtered, filtered, "--overwrite", *extra, expect=2)
    assert "both an input and the output" in r.stderr
    # An input inside OUTPUT, directly or through a symlink.
    link = tmp_path / "rejected-link"
    link.symlink_to(filtered / "_rejected")
    for src in (filtered / "_rejected", link):
        r = cli(stage, src, filtered, "--overwrite", *extra, expect=2)
        assert "refusing to --overwrite" in r.stderr and "lies inside it" in r.stderr
    assert snapshot(filtered) == before


def test_overwrite_never_deletes_a_tokenizer_inside_output(cli, filtered, tmp_path):
    tokens = tmp_path / "tokens"
    cli("tokenize", filtered, tokens, "--train-tokenizer", "--vocab-size", "300", "--tokenizer-sample-mb", "0.05")
    tokenizer = tokens / "tokenizer" / "tokenizer.json"
    before = tokenizer.read_bytes()
    r = cli("tokenize", filtered, tokens, "--tokenizer", tokens / "tokenizer", "--overwrite", expect=2)
    assert "lies inside it" in r.stderr and tokenizer.read_bytes() == before


def test_overwrite_never_deletes_crawl_sources(cli, tmp_path):
    out = tmp_path / "files"
    repo = tmp_path / "src" / "r1"
    repo.mkdir(parents=True)
    (repo / "a.py").write_text("print('hello')\n")
    cli("crawl", tmp_path / "src", out)
    (out / "repos" / "r2").mkdir(parents=True)
    (out / "repos" / "r2" / "b.py").write_text("print('kept')\n")
    listing = tmp_path / "repos.txt"
    listing.write_text(f"{out / 'repos' / 'r2'}\n")
    for source in (out / "repos", listing):  # a folder of repositories, a list naming one
        r = cli("crawl", source, out, "--overwrite", expect=2)
        assert "lies inside it" in r.stderr
    assert (out / "repos" / "r2" / "b.py").read_text() == "print('kept')\n"


def test_overwrite_of_dedup_phases_keeps_an_input_inside(cli, tmp_path):
    from stages.core.schemas import SAMPLES_SCHEMA

    out = tmp_path / "dedup"
    src = out / "keep" / "samples"
    src.mkdir(parents=True)
    rows = [{"sample_id": f"r#{i}", "repo": "r", "lang": "Python", "paths": ["a.py"], "langs": ["Python"],
             "text": f"def f{i}(): return {i}\n", "n_files": 1, "size": 20} for i in range(4)]
    pq.write_table(pa.Table.from_pylist(rows, schema=SAMPLES_SCHEMA), src / "part-00000.parquet")
    (out / "_dscoder").mkdir()  # a dedup output in progress holds only _dscoder/
    r = cli("dedup", src, out, "--overwrite", expect=2)
    assert "lies inside it" in r.stderr
    assert (src / "part-00000.parquet").exists()


def test_training_overwrite_never_deletes_its_start_checkpoint_or_data(tmp_path):
    from stages.core.errors import UsageError
    from stages.train.config import PRESETS, TrainConfig
    from stages.train.runner import CONFIG, check_output

    out = tmp_path / "run"
    ckpt = out / "checkpoints" / "iter_0000010"
    ckpt.mkdir(parents=True)
    (ckpt / "weights").write_bytes(b"the source model")
    (out / CONFIG).write_text("stage: pretrain\n")
    data = tmp_path / "tokens"
    data.mkdir()
    cfg = TrainConfig(data=[str(data)], output=str(out), model=PRESETS["tiny"].model,
                      init_from_checkpoint=str(ckpt), stage="extend-context")
    with pytest.raises(UsageError, match="lies inside it"):
        check_output(cfg, overwrite=True, world_size=1)
    assert (ckpt / "weights").read_bytes() == b"the source model"
    cfg = TrainConfig(data=[str(out)], output=str(out), model=PRESETS["tiny"].model)
    with pytest.raises(UsageError, match="both an input and the output"):
        check_output(cfg, overwrite=True, world_size=1)
    assert (ckpt / "weights").exists()


def _eval_files(tmp_path: Path) -> tuple[Path, Path]:
    task = {"task_id": "t/0", "prompt": "def f(x):\n", "entry_point": "f",
            "test": "\n\ndef check(candidate):\n    assert candidate(2) == 3\n"}
    bench = tmp_path / "bench.jsonl"
    bench.write_text(json.dumps(task) + "\n")
    gens = tmp_path / "g.jsonl"
    gens.write_text(json.dumps({"task_id": "t/0", "completion": "    return x + 1\n"}) + "\n")
    return bench, gens


def test_eval_overwrite_never_deletes_its_generations_file(cli, tmp_path):
    bench, gens = _eval_files(tmp_path)
    out = tmp_path / "eval"
    cli("eval", out, "--generations", gens, "--benchmarks", "", "--benchmark-file", bench, "--steps", "generate")
    kept = out / "mine.jsonl"
    kept.write_bytes(gens.read_bytes())
    r = cli("eval", out, "--generations", kept, "--benchmarks", "", "--benchmark-file", bench, "--overwrite",
            expect=2)
    assert "refusing to --overwrite" in r.stderr and "mine.jsonl" in r.stderr
    assert kept.read_bytes() == gens.read_bytes()


# -- 2. partial inputs are never taken for whole ---------------------------------------------------

def test_input_with_a_failed_unit_is_refused_naming_it_and_the_command(files_input, tmp_path):
    (files_input / "part-00002.parquet").write_bytes(b"PAR1 not parquet")
    out, nxt = tmp_path / "filtered", tmp_path / "samples"
    r = run("filter", files_input, out)
    assert r.returncode == 1 and "part-00002" in r.stderr
    r = run("topo-sort", out, nxt)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"input `filter` output {out} has 1 of 6 units missing" in r.stderr and "failed: part-00002" in r.stderr
    assert f"re-run `dscoder filter {files_input} {out}`" in r.stderr and "--allow-partial" in r.stderr
    assert not nxt.exists()
    r = run("topo-sort", out, nxt, "--allow-partial", "--json")
    assert r.returncode == 0, r.stderr
    assert "warning" in r.stderr and json.loads(r.stdout)["shards_total"] == 5


def test_marker_without_its_shard_is_not_trusted(cli, files_input, filtered, tmp_path):
    reference = read_output(filtered)
    (filtered / "part-00003.parquet").unlink()
    r = cli("topo-sort", filtered, tmp_path / "samples", expect=2)
    assert "done-marker without its files: part-00003" in r.stderr
    info = cli.json("status", filtered)
    assert not info["complete"] and info["shards_pending"] == ["part-00003"]
    assert info["shards_missing_output"] == {"part-00003": ["part-00003.parquet"]}
    assert "part-00003: done-marker without its files" in cli("status", filtered).stdout
    s = cli.json("filter", files_input, filtered)  # the re-run redoes exactly that unit
    assert s["this_run"]["shards_done"] == 1 and s["shards_done"] == 6
    assert read_output(filtered).equals(reference)
    cli("topo-sort", filtered, tmp_path / "samples")


def test_unfinished_unit_with_renamed_shard_is_refused_and_skipped_with_allow_partial(cli, filtered, tmp_path):
    (filtered / "_dscoder/done/part-00001.json").unlink()  # killed between the rename and the marker
    r = cli("topo-sort", filtered, tmp_path / "s", expect=2)
    assert "not done: part-00001" in r.stderr
    s = cli.json("topo-sort", filtered, tmp_path / "s", "--allow-partial")
    inputs = json.loads((tmp_path / "s/_dscoder/manifest.json").read_text())["units"]
    assert s["shards_total"] == 5 and "part-00001" not in [u["name"] for u in inputs]


def test_strict_also_fails_on_reported_errors(cli, tmp_path):
    out = tmp_path / "out"
    repo = tmp_path / "src" / "r1"
    repo.mkdir(parents=True)
    (repo / "a.py").write_text("print(1)\n")
    listing = tmp_path / "list.txt"
    listing.write_text(f"{repo}\n{tmp_path / 'missing-repo'}\n")
    s = cli.json("crawl", listing, out)  # a missing repository is a reported error, not a failure
    assert s["errors"] >= 1 and s["this_run"]["shards_failed"] == []
    r = cli("crawl", listing, out, "--strict", expect=1)
    assert "errors were reported (--strict)" in r.stderr


# -- 3. one writer per output ----------------------------------------------------------------------

def _wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def _record(lock: Path) -> dict:
    try:
        return json.loads(lock.read_text() or "{}")
    except (OSError, ValueError):
        return {}


def test_second_concurrent_writer_is_refused_naming_the_holder(tmp_path):
    src = write_files_shards(tmp_path / "files", n_shards=10, rows_per_shard=200)
    out = tmp_path / "out"
    first = subprocess.Popen([*DSCODER, "filter", str(src), str(out)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    lock = out / "_dscoder/locks/rank-0.lock"
    assert _wait_for(lambda: _record(lock).get("pid") == first.pid)
    os.kill(first.pid, signal.SIGSTOP)  # a writer at work, held still while the second one starts
    try:
        second = run("filter", src, out)
    finally:
        os.kill(first.pid, signal.SIGCONT)
    rest = first.communicate(timeout=120)[1]
    assert first.returncode == 0, rest
    assert second.returncode == 2 and "Traceback" not in second.stderr
    line = second.stderr.strip().splitlines()[-1]
    assert f"being written by pid {first.pid} on host {socket.gethostname()}" in line
    assert json.loads(run("status", out, "--json").stdout)["complete"]
    # Ranks of an array are different writers: they run side by side.
    ranked = tmp_path / "ranked"
    procs = [subprocess.Popen([*DSCODER, "filter", str(src), str(ranked), "--rank", str(r), "--world-size", "2"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for r in (0, 1)]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read()
    assert read_output(ranked).equals(read_output(out))


def _hold_lock(root: Path, name: str, host: str | None = None, age: float = 0.0) -> subprocess.Popen:
    """Another process holding `name`'s lock of `root` (its record claiming `host`, `age` s old)."""
    code = ("import sys, json, os, time; from stages.core import lock\n"
            f"h = lock.acquire({str(root)!r}, {name!r}); rec = h.record\n"
            f"host = {host!r}\n"
            "if host: rec['host'] = host; os.ftruncate(h.fd, 0); os.pwrite(h.fd, json.dumps(rec).encode(), 0)\n"
            f"if {age}: os.utime(h.fd, (time.time() - {age}, time.time() - {age}))\n"
            "print('held', flush=True); time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[3])
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_stale_locks_are_taken_over(cli, files_input, tmp_path):
    out = tmp_path / "out"
    lock = out / "_dscoder/locks/rank-0.lock"
    lock.parent.mkdir(parents=True)
    # A killed run's record: its pid is dead on this host, the kernel lock went with it.
    lock.write_text(json.dumps({"pid": dead_pid(), "host": socket.gethostname(), "since": 0}))
    r = cli("filter", files_input, out)
    assert "taking over the lock" in r.stderr and "which is gone" in r.stderr
    # A lock still held, by a record from another host with no heartbeat for longer than the bound.
    holder = _hold_lock(out, "rank-0", host="node-that-crashed", age=3600)
    try:
        r = cli("filter", files_input, out, "--overwrite")
        assert "taking over the stale lock" in r.stderr and "node-that-crashed" in r.stderr
        # ... but a fresh one from another host is respected.
        fresh = _hold_lock(out, "rank-1", host="busy-node")
        try:
            r = cli("filter", files_input, out, "--rank", 1, "--world-size", 2, expect=2)
            assert "pid" in r.stderr and "on host busy-node" in r.stderr
        finally:
            fresh.kill()
    finally:
        holder.kill()
        holder.wait()  # the lock is released only when the holder is gone


def test_overwrite_refused_while_another_rank_writes(cli, filtered):
    holder = _hold_lock(filtered, "rank-1")
    try:
        r = cli("filter", filtered.parent / "files", filtered, "--overwrite", expect=2)
        assert f"pid {holder.pid}" in r.stderr and "is writing it" in r.stderr
    finally:
        holder.kill()
        holder.wait()  # the lock is released only when the holder is gone
    assert (filtered / "_dscoder/manifest.json").exists()


def test_eval_is_one_writer(cli, tmp_path):
    bench, gens = _eval_files(tmp_path)
    out = tmp_path / "eval"
    args = ("eval", out, "--generations", gens, "--benchmarks", "", "--benchmark-file", bench, "--steps", "generate")
    holder = _hold_lock(out, "writer")
    try:
        r = cli(*args, expect=2)
        assert f"being written by pid {holder.pid}" in r.stderr
    finally:
        holder.kill()
        holder.wait()  # the lock is released only when the holder is gone
    assert not (out / "file-bench" / "generations.jsonl").exists()
    cli(*args)
    cli(*args)  # the lock was released: a second (resuming) run is fine
    assert len((out / "file-bench" / "generations.jsonl").read_text().splitlines()) == 1


def test_pretrain_is_one_writer(tmp_path):
    """A second pretrain on the same OUTPUT is refused (the issue saw metrics steps 1-4 twice)."""
    pytest.importorskip("torch")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
    from train_testlib import make_token_folder, read_metrics, stdlib_texts, write_model_yaml

    tokens = make_token_folder(tmp_path / "tokens", stdlib_texts()[:4])
    model = write_model_yaml(tmp_path / "small.yaml")
    out = tmp_path / "run"
    args = ["pretrain", tokens, out, "--model-config", model, "--steps", 4, "--warmup-steps", 1, "--seq-length", 32,
            "--global-batch", 4, "--micro-batch", 2, "--save-interval", 100]
    first = subprocess.Popen([*DSCODER, *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
    assert _wait_for(lambda: _record(out / "_dscoder/locks/writer.lock").get("pid") == first.pid, timeout=120)
    os.kill(first.pid, signal.SIGSTOP)
    try:
        second = run(*args)
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert first.wait(timeout=300) == 0, first.stderr.read()[-2000:]
    assert second.returncode == 2 and "Traceback" not in second.stderr
    assert f"being written by pid {first.pid}" in second.stderr
    assert [r["step"] for r in read_metrics(out)] == [1, 2, 3, 4]
    # extend-context from this run into the same folder: --overwrite would delete its start checkpoint.
    checkpoints = sorted(p.name for p in (out / "checkpoints").iterdir())
    r = run("extend-context", out, tokens, out, "--overwrite", "--seq-length", 32, "--steps", 1,
            "--global-batch", 4, "--micro-batch", 2)
    assert r.returncode == 2 and "lies inside it" in r.stderr, r.stderr[-2000:]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == checkpoints


# -- 4. workers die with their runner --------------------------------------------------------------

def test_workers_exit_when_the_parent_is_killed(tmp_path):
    import psutil

    src = write_files_shards(tmp_path / "files", n_shards=40, rows_per_shard=400)
    out = tmp_path / "out"
    proc = subprocess.Popen([*DSCODER, "filter", str(src), str(out), "--workers", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parent = psutil.Process(proc.pid)
    assert _wait_for(lambda: len(list((out / "_dscoder/done").glob("*.json"))) >= 2)
    workers = parent.children()
    assert len(workers) == 2
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, f"workers outlived their parent: {alive}"
    # The next run finishes the job (and cleans what the killed workers left).
    r = run("filter", src, out, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["shards_done"] == 40
    assert not list(out.glob(".*tmp-*"))


# -- 5. one-line errors naming the file, the cause and the fix ------------------------------------

@pytest.fixture
def tiny_fs(tmp_path):
    """A 64 KiB tmpfs (root only): a disk that fills up."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs root")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_disk_full_is_one_line_naming_the_output_file(cli, tmp_path, tiny_fs):
    src = write_files_shards(tmp_path / "files", n_shards=4, rows_per_shard=300)
    out = tiny_fs / "out"
    r = cli("filter", src, out, expect=1)
    lines = r.stderr.strip().splitlines()
    assert "Traceback" not in r.stderr and "corrupt" not in r.stderr.lower()
    assert lines[-1].startswith(f"dscoder: error: cannot write {out}/") and "no space left on device" in lines[-1]
    assert "re-run the same command to resume" in lines[-1]
    assert not list((out / "_dscoder").glob("failed/*.json"))  # not blamed on a unit's input


def test_disk_full_simulated_in_a_worker(cli, files_input, tmp_path, monkeypatch):
    import errno

    import stages.core.shards as shards

    real = shards.pq.ParquetWriter  # what write_shard writes a non-empty shard with
    calls = []

    def writer(where, *args, **kw):
        calls.append(where)
        if len(calls) > 3:
            raise OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space left on device")
        return real(where, *args, **kw)

    monkeypatch.setattr(shards.pq, "ParquetWriter", writer)
    r = cli("filter", files_input, tmp_path / "out", expect=1)
    assert "cannot write" in r.stderr and "no space left on device" in r.stderr
    assert "CorruptShard" not in r.stderr and "Traceback" not in r.stderr
    monkeypatch.setattr(shards.pq, "ParquetWriter", real)
    s = cli.json("filter", files_input, tmp_path / "out")  # space again: the same command resumes
    assert s["shards_done"] == 6 and 0 < s["this_run"]["shards_skipped"] < 6


def test_read_only_output_is_one_line(cli, files_input, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(ro)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a read-only tmpfs needs root")
    try:
        r = cli("filter", files_input, ro / "out", expect=1)
        assert r.stderr.strip().splitlines()[-1] == (f"dscoder: error: cannot write {ro / 'out'}: read-only file "
                                                     "system; make OUTPUT writable or choose another OUTPUT")
    finally:
        subprocess.run(["umount", "-l", str(ro)], check=False)


def test_damaged_manifest_and_markers(cli, files_input, filtered):
    reference = read_output(filtered)
    (filtered / "_dscoder/done/part-00004.json").write_text("")  # torn: that unit is redone
    r = cli("filter", files_input, filtered, "--json")
    assert "part-00004: unreadable done-marker" in r.stderr
    assert json.loads(r.stdout)["this_run"]["shards_done"] == 1
    assert read_output(filtered).equals(reference)
    (filtered / "_dscoder/manifest.json").write_text("")
    r = cli("filter", files_input, filtered, expect=2)
    assert r.stderr.strip() == (f"dscoder: error: {filtered}/_dscoder/manifest.json is empty: the record of "
                                f"{filtered} is damaged, so it cannot be resumed; re-run with --overwrite to "
                                "start over")
    assert "is empty" in cli("status", filtered, expect=2).stderr
    cli("filter", files_input, filtered, "--overwrite")


def test_missing_column_and_wrong_types_named(cli, tmp_path):
    from stages.core.errors import UsageError
    from stages.core.shards import read_shard

    path = tmp_path / "part-00000.parquet"
    pq.write_table(pa.table({"path": ["a.py"], "content": ["x = 1\n"]}), path)
    with pytest.raises(UsageError) as exc:  # one check and one wording for every stage (shards.require_columns)
        read_shard(path, columns=["repo", "path", "lang", "content"])
    assert str(exc.value) == f"no column `repo`, `lang` in {path} (columns: path, content)"
    pq.write_table(pa.table({"repo": ["r"], "path": [7], "lang": ["Python"], "content": ["x = 1\n"]}), path)
    with pytest.raises(UsageError, match=r"column `path` in .* is int64, expected string"):
        read_shard(path, columns=["repo", "path", "lang", "content"])
    r = cli("topo-sort", tmp_path, tmp_path / "out", "--json", expect=1)  # through a stage
    assert "column `path` in" in json.loads(r.stdout)["this_run"]["first_error"]


# -- 6. bad values refused when parsed; nothing written by a failed invocation -------------------

@pytest.mark.parametrize("args", [
    ["pretrain", "D", "O", "--steps", "0"], ["pretrain", "D", "O", "--global-batch", "0"],
    ["pretrain", "D", "O", "--seq-length", "0"], ["pretrain", "D", "O", "--lr", "0"],
    ["extend-context", "C", "D", "O", "--seq-length", "0"], ["instruct", "C", "D", "O", "--epochs", "0"],
    ["instruct", "C", "D", "O", "--batch-tokens", "0"], ["crawl", "S", "O", "--shard-size", "inf"],
    ["tokenize", "D", "O", "--train-tokenizer", "--vocab-size", "10"], ["filter", "D", "O", "--workers", "0"],
    ["submit", "filter", "D", "O", "--array-size", "0"]])
def test_zero_inf_nan_refused_when_parsed(cli, tmp_path, args):
    args = [str(tmp_path / a) if a in ("C", "D", "O", "S") else a for a in args]
    r = cli(*args, expect=2)
    assert "Invalid value" in r.stderr
    assert not (tmp_path / "O").exists()


def test_failed_invocations_create_no_output_folder(cli, files_input, tmp_path):
    out = tmp_path / "out"
    cli("filter", tmp_path / "missing", out, expect=2)
    cli("filter", files_input, out, "--rules", "nonsense", expect=2)
    cli("dedup", tmp_path / "missing", out, expect=2)
    cli("topo-sort", tmp_path / "missing", out, expect=2)
    cli("tokenize", files_input, out, "--tokenizer", tmp_path / "no-tokenizer.json", expect=2)
    cli("crawl", tmp_path / "missing", out, expect=2)
    assert not out.exists()


def test_prepare_failure_leaves_no_manifest_behind(cli, files_input, tmp_path, monkeypatch):
    """A run that fails before its first unit (tokenize: tokenizer training) writes nothing the
    corrected command would be refused by."""
    from stages.tokenize.stage import TokenizeStage

    def broken(self, output):
        raise RuntimeError("training failed")

    out = tmp_path / "tokens"
    monkeypatch.setattr(TokenizeStage, "prepare", broken)
    with pytest.raises(RuntimeError):
        cli("tokenize", files_input, out, "--train-tokenizer", "--vocab-size", "300")
    assert not out.exists()


# -- 7. Parquet dscoder writes is readable by dscoder ----------------------------------------------

def test_filtering_a_rejected_folder_writes_readable_parquet(cli, filtered, tmp_path):
    from stages.core.shards import read_shard

    again = tmp_path / "again"
    s = cli.json("filter", filtered / "_rejected", again)
    assert s["rows_rejected"] > 0
    for p in sorted((again / "_rejected").glob("*.parquet")):
        table = read_shard(p)
        assert table.column_names.count("reason") == 1 and "input_reason" in table.column_names
        assert pq.read_table(p).num_rows == table.num_rows
        assert table["reason"].to_pylist() == table["input_reason"].to_pylist()  # the same rules, again
    third = cli.json("filter", again / "_rejected", tmp_path / "third")  # and again
    assert third["rows_in"] == s["rows_rejected"]
    t = read_output(tmp_path / "third" / "_rejected")
    assert {"reason", "input_reason", "input2_reason"} <= set(t.column_names)


# -- 8. leftovers of killed runs are cleaned on the next run ---------------------------------------

def test_leftover_temporary_files_are_cleaned(cli, files_input, filtered):
    host, pid = socket.gethostname(), dead_pid()
    meta = filtered / "_dscoder"
    leftovers = [meta / f".stats.json.tmp-{host}-{pid}", meta / f".stats.json.tmp-{pid}",
                 meta / "done" / f".part-00001.json.tmp-{host}-{pid}"]
    for p in leftovers:
        p.write_text("{")
    empty_dir = filtered / f".tokenizer.tmp-{host}-{pid}"
    empty_dir.mkdir()
    live = meta / f".stats.json.tmp-other-host-{os.getpid()}"  # a writer at work on another host
    live.write_text("{")
    (meta / "failed").mkdir()
    (meta / "failed" / "part-00002.json").write_text(json.dumps({"unit": "part-00002", "error": {"error": "x"}}))
    s = cli.json("filter", files_input, filtered)
    assert s["this_run"]["shards_done"] == 0 and s["shards_failed"] == []
    assert not any(p.exists() for p in leftovers) and not empty_dir.exists()
    assert not (meta / "failed" / "part-00002.json").exists()
    assert live.exists()
