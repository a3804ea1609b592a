"""`dscoder` exits without the interpreter's module teardown (0.25-0.3 s a command, issue #18), with
the same exit codes, flushed output and atexit handlers as a normal exit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]

# Runs `dscoder ARGS` through main() after registering an atexit handler that writes a file.
_WITH_ATEXIT = """
import atexit, pathlib, sys
flag = pathlib.Path(sys.argv[1])
atexit.register(lambda: flag.write_text("ran"))
sys.argv = ["dscoder"] + sys.argv[2:]
from dscoder_cli.app import main
main()
"""


def _dscoder(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, Path]:
    flag = tmp_path / "atexit-ran"
    flag.unlink(missing_ok=True)
    out = tmp_path / "stdout.txt"
    with out.open("w") as stdout:  # a file: block-buffered, so an unflushed exit would lose it
        done = subprocess.run([sys.executable, "-c", _WITH_ATEXIT, str(flag), *args], cwd=ROOT, stdout=stdout,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    done.stdout = out.read_text()
    return done, flag


def test_success_usage_error_and_failure_keep_their_exit_codes_output_and_atexit(tmp_path):
    done, flag = _dscoder(tmp_path, "--version")
    assert (done.returncode, done.stdout.strip(), flag.read_text()) == (0, "dscoder 0.1.0", "ran")

    done, flag = _dscoder(tmp_path, "filter", str(tmp_path / "missing"), str(tmp_path / "out"))
    assert done.returncode == 2 and "does not exist" in done.stderr and flag.read_text() == "ran"

    shards = tmp_path / "files"
    shards.mkdir()
    (shards / "part-00000.parquet").write_bytes(b"PAR1 not parquet")  # a corrupt shard: exit 1
    done, flag = _dscoder(tmp_path, "filter", str(shards), str(tmp_path / "out2"), "--json")
    assert done.returncode == 1 and flag.read_text() == "ran"
    summary = json.loads(done.stdout)  # the --json summary was flushed before the exit
    assert summary["this_run"]["shards_failed"] == ["part-00000"]


def test_a_real_run_writes_everything_before_exiting(tmp_path):
    shards = tmp_path / "files"
    shards.mkdir()
    rows = {"repo": ["r"] * 3, "path": ["a.py", "b.py", "c.py"], "lang": ["Python"] * 3,
            "content": [f"def {name}(value):\n    return value + 1\n" * 5 for name in "fgh"]}
    pq.write_table(pa.table(rows), shards / "part-00000.parquet")
    done, _ = _dscoder(tmp_path, "filter", str(shards), str(tmp_path / "out"), "--json")
    assert done.returncode == 0, done.stderr
    assert pq.read_table(tmp_path / "out" / "part-00000.parquet").num_rows == 3
    assert (tmp_path / "out" / "_dscoder" / "stats.json").exists()
