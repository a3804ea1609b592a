"""A killed `dscoder tokenize` resumes to files identical to an uninterrupted run's."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from tokenize_helpers import small_tokenizer_dir, synthetic_texts, write_samples  # noqa: E402


def _outputs(folder: Path) -> dict[str, bytes]:
    names = sorted(p.name for p in folder.glob("part-*") if p.suffix in (".bin", ".idx"))
    return {n: (folder / n).read_bytes() for n in names} | {
        "tokenizer.json": (folder / "tokenizer/tokenizer.json").read_bytes()}


def test_sigkill_then_resume_equals_uninterrupted(tmp_path):
    n = 40
    src = write_samples(tmp_path / "samples", [synthetic_texts(150, s) for s in range(n)])
    cmd = [sys.executable, "-m", "dscoder_cli", "tokenize", str(src)]
    opts = ["--tokenizer", str(small_tokenizer_dir()), "--batch-size", "16"]
    subprocess.run(cmd + [str(tmp_path / "ref")] + opts, check=True, capture_output=True)
    out = tmp_path / "out"
    proc = subprocess.Popen(cmd + [str(out)] + opts, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done = out / "_dscoder/done"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(done.glob("*.json"))) < 3:
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_done = len(list(done.glob("*.json")))
    assert 3 <= n_done < n, f"kill landed at {n_done}/{n} shards; the test needs a part-way kill"
    rerun = subprocess.run(cmd + [str(out), "--json"] + opts, check=True, capture_output=True, text=True)
    summary = json.loads(rerun.stdout)
    assert summary["this_run"]["shards_skipped"] == n_done and summary["shards_done"] == n
    assert _outputs(out) == _outputs(tmp_path / "ref")
    assert not list(out.glob(".*tmp-*"))


def test_states_a_kill_leaves_are_repaired(cli, tmp_path):
    """A torn .bin without its marker, a half-written temporary file, a half-built tokenizer."""
    src = write_samples(tmp_path / "samples", [synthetic_texts(30, s) for s in range(3)])
    args = ["--train-tokenizer", "--vocab-size", "300", "--tokenizer-sample-mb", "0.05"]
    out = tmp_path / "out"
    cli("tokenize", src, out, *args)
    reference = _outputs(out)
    (out / "_dscoder/done/part-00001.json").unlink()
    (out / "part-00001.bin").write_bytes(b"torn")
    (out / "_dscoder/done/part-00002.json").unlink()
    (out / "part-00002.idx").unlink()
    (out / ".part-00002.idx.tmp-99999").write_bytes(b"half")
    shutil.rmtree(out / "tokenizer")  # killed while training: the folder was never renamed into place
    (out / ".tokenizer.tmp-99999").mkdir()  # a killed run's, two hours old
    os.utime(out / ".tokenizer.tmp-99999", (time.time() - 7200, time.time() - 7200))
    (out / ".tokenizer.tmp-otherhost-4242").mkdir()  # another rank's, building right now: left alone
    s = cli.json("tokenize", src, out, *args)
    assert s["this_run"]["shards_done"] == 2 and s["shards_done"] == 3
    assert _outputs(out) == reference
    assert [p.name for p in out.glob(".*tmp-*")] == [".tokenizer.tmp-otherhost-4242"]
