"""The sandbox never outlives its evaluator, holds its total caps, and Ctrl-C keeps what finished.

Real `python -m dscoder_cli eval` processes, killed with real signals."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from eval_test_helpers import read_jsonl, skip_without, write_jsonl  # noqa: E402
from test_eval_hostile import sandbox_uid_processes  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
TASK = {"prompt": "def f(x):\n", "entry_point": "f", "test": "\n\ndef check(candidate):\n    assert candidate(2) == 3\n"}


def _bench(tmp_path: Path, bodies: dict[str, str]) -> tuple[Path, Path]:
    bench = write_jsonl(tmp_path / "life.jsonl", [{**TASK, "task_id": f"t/{n}"} for n in bodies])
    gens = write_jsonl(tmp_path / "g.jsonl", [{"task_id": f"t/{n}", "completion": c} for n, c in bodies.items()])
    return bench, gens


def _start(tmp_path: Path, bench: Path, gens: Path, *args) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "dscoder_cli", "eval", str(tmp_path / "out"), "--generations", str(gens),
           "--benchmarks", "", "--benchmark-file", str(bench), "--protocols", "strict", *map(str, args)]
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _processes_of(uids: set[int]) -> list[int]:
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat(f"/proc/{pid}").st_uid in uids:
                with open(f"/proc/{pid}/stat", "rb") as f:
                    if f.read().rsplit(b")", 1)[1].split()[0] != b"Z":
                        out.append(int(pid))
        except OSError:
            continue
    return out


SLEEPS_AND_FORKS = ("    import os, time\n"
                    "    for i in range(50):\n"
                    "        if os.fork() == 0:\n"
                    "            if os.fork() == 0:  # a grandchild in its own session (a daemon)\n"
                    "                os.setsid()\n"
                    "                time.sleep(600)\n"
                    "            time.sleep(600)\n"
                    "        time.sleep(0.2)\n"
                    "    return x + 1\n")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_eval_leaves_no_process_and_no_scratch(tmp_path, sig):
    skip_without("python")
    bench, gens = _bench(tmp_path, {"sleeper": SLEEPS_AND_FORKS, "sleeper2": SLEEPS_AND_FORKS})
    proc = _start(tmp_path, bench, gens, "--timeout", 60, "--workers", 2)
    try:
        # Both programs are running and have forked children and daemonised grandchildren.
        found = _wait_for(lambda: (lambda p: p if len(p) >= 8 else None)(sandbox_uid_processes(proc.pid)), 60,
                          "the sandboxed programs to fork")
        uids = set(found.values())
        assert (tmp_path / "out" / "_scratch" / str(proc.pid)).is_dir()
        proc.send_signal(sig)
        proc.wait(timeout=30)
        time.sleep(1.0)
        assert _processes_of(uids) == [], f"left alive after {sig.name}: {_processes_of(uids)}"
        assert not (tmp_path / "out" / "_scratch").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if sig == signal.SIGTERM:  # what Slurm's time limit sends: handled like Ctrl-C
        assert proc.returncode == 130 and "interrupted" in proc.stderr.read()
        # Nothing finished, and the next run starts them again: the output is a resumable eval output.
        s = subprocess.run([sys.executable, "-m", "dscoder_cli", "eval", str(tmp_path / "out"), "--generations",
                            str(gens), "--benchmarks", "", "--benchmark-file", str(bench), "--timeout", "60",
                            "--steps", "generate", "--json"], cwd=REPO, capture_output=True, text=True)
        assert s.returncode == 0, s.stderr
    else:
        assert proc.returncode == -signal.SIGKILL


def test_ctrl_c_stops_quickly_and_keeps_finished_results(tmp_path):
    skip_without("python")
    quick, slow = "    import time\n    time.sleep(0.2)\n    return x + 1\n", "    import time\n    time.sleep(8)\n    return x + 1\n"
    bodies = {"a": quick, "b": quick, "c": slow, "d": slow, "e": quick, "f": quick}
    bench, gens = _bench(tmp_path, bodies)
    results = tmp_path / "out" / "file-life" / "results.jsonl"
    proc = _start(tmp_path, bench, gens, "--timeout", 60, "--workers", 2)
    try:
        _wait_for(lambda: results.exists() and len(results.read_text().splitlines()) >= 2, 60, "two results")
        _wait_for(lambda: len(sandbox_uid_processes(proc.pid)) >= 2, 30, "the two slow programs to start")
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert took < 5, took  # the 8 s programs were killed after the 1 s grace, the queued ones never started
    assert "interrupted: kept 6 generations and 2 results" in err
    rows = read_jsonl(results)
    assert [r["task_id"] for r in rows] == ["t/a", "t/b"] and all(r["passed"] for r in rows)
    assert not (tmp_path / "out" / "_scratch").exists()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())["benchmarks"]["file-life"]
    assert summary["executed"] == 2 and summary["not_executed"] == ["t/c", "t/d", "t/e", "t/f"]
    # The same command goes on with the rest only.
    r = subprocess.run([sys.executable, "-m", "dscoder_cli", "eval", str(tmp_path / "out"), "--generations", str(gens),
                        "--benchmarks", "", "--benchmark-file", str(bench), "--protocols", "strict", "--timeout", "1",
                        "--json"],
                       cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 2 and "execution options changed (timeout)" in r.stderr  # a changed timeout is refused
    r = subprocess.run([sys.executable, "-m", "dscoder_cli", "eval", str(tmp_path / "out"), "--generations", str(gens),
                        "--benchmarks", "", "--benchmark-file", str(bench), "--protocols", "strict", "--timeout", "60",
                        "--json"],
                       cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["this_run"]["executed"] == 4 and s["benchmarks"]["file-life"]["executed"] == 6
    assert [row["task_id"] for row in read_jsonl(results)] == [f"t/{n}" for n in "abcdef"]


def test_interrupt_grace_keeps_what_finishes_in_it(cli, tmp_path, monkeypatch):
    """In-process, with a longer grace: a program that finishes within it is kept, one that does not is
    dropped, the queued ones never start."""
    skip_without("python")
    import stages.eval.run as run
    monkeypatch.setattr(run, "INTERRUPT_GRACE", 4.0)
    quick = "    return x + 1\n"
    bodies = {"a": quick, "b": quick, "slow": "    import time\n    time.sleep(30)\n    return x + 1\n",
              "one_second": "    import time\n    time.sleep(1)\n    return x + 1\n", "e": quick, "f": quick}
    bench, gens = _bench(tmp_path, bodies)
    results = tmp_path / "out" / "file-life" / "results.jsonl"
    me = os.getpid()

    def interrupt():
        _wait_for(lambda: results.exists() and len(results.read_text().splitlines()) >= 2, 60, "two results")
        _wait_for(lambda: len(sandbox_uid_processes(me)) >= 2, 30, "the next two programs")
        os.kill(me, signal.SIGINT)

    t = threading.Thread(target=interrupt, daemon=True)
    t.start()
    r = cli("eval", tmp_path / "out", "--generations", gens, "--benchmarks", "", "--benchmark-file", bench,
            "--timeout", 60, "--workers", 2, expect=130)
    t.join()
    assert "interrupted" in r.stderr
    assert [row["task_id"] for row in read_jsonl(results)] == ["t/a", "t/b", "t/one_second"]
    assert not sandbox_uid_processes(me)


def _rss_of(pids) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status", "rb") as f:
                for line in f:
                    if line.startswith((b"RssAnon:", b"RssShmem:")):
                        total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def test_total_memory_and_disk_caps_hold_with_four_programs_at_once(cli, tmp_path):
    """4 workers, 256 MiB and 64 MiB of scratch per program: the eval's programs hold at most 1 GiB and
    256 MiB of scratch together, however many processes each one forks."""
    skip_without("python")
    mib = 1 << 20
    hog = ("    import os, time\n"
           "    for _ in range(3):\n"
           "        if os.fork() == 0:\n"
           "            break\n"
           "    chunks = []\n"
           "    for _ in range(15):  # 150 MiB per process, 600 MiB per program: over its 256 MiB\n"
           "        chunks.append(bytearray(10 << 20))\n"
           "        time.sleep(0.02)\n"
           "    time.sleep(10)\n"
           "    return x + 1\n")
    filler = ("    import sys\n"
              "    n = 0\n"
              "    try:\n"
              "        for i in range(100):  # 800 MiB: over its 64 MiB\n"
              "            with open(f'/work/f{i}', 'wb') as f:\n"
              "                for _ in range(8):\n"
              "                    f.write(b'x' * (1 << 20))\n"
              "                    f.flush()\n"
              "                    n += 1 << 20\n"
              "    finally:\n"
              "        sys.stderr.write(f'wrote {n} bytes\\n')\n"
              "    return x + 1\n")
    bodies = {f"hog{i}": hog for i in range(4)} | {f"fill{i}": filler for i in range(4)}
    bench, gens = _bench(tmp_path, bodies)
    me = os.getpid()
    peak = {"total": 0, "programs": 0}
    done = threading.Event()

    def sample():
        while not done.is_set():
            procs = sandbox_uid_processes(me)
            peak["programs"] = max(peak["programs"], len(set(procs.values())))
            peak["total"] = max(peak["total"], _rss_of(procs))
            time.sleep(0.002)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        s = cli.json("eval", tmp_path / "out", "--generations", gens, "--benchmarks", "", "--benchmark-file", bench,
                     "--timeout", 30, "--workers", 4, "--memory", 0.25, "--disk", 1 / 16)
    finally:
        done.set()
        t.join()
    res = {r["task_id"][2:]: r for r in read_jsonl(tmp_path / "out" / "file-life" / "results.jsonl")}
    assert {n: r["status"] for n, r in res.items()} == {**{f"hog{i}": "memory_limit" for i in range(4)},
                                                         **{f"fill{i}": "disk_limit" for i in range(4)}}, res
    for i in range(4):
        held = int(res[f"hog{i}"]["reason"].split("held ")[1].split(" MiB")[0])
        assert 256 <= held <= 256 + 64, res[f"hog{i}"]["reason"]  # caught within one poll of crossing the cap
        wrote = int(res[f"fill{i}"]["reason"].split("wrote ")[1].split(" bytes")[0])
        assert 48 * mib <= wrote <= 64 * mib, wrote
    print(f"peak of the eval's programs together: {peak['total'] / mib:.0f} MiB in {peak['programs']} programs; "
          f"held when killed: {[r['reason'].split('held ')[1].split(',')[0] for n, r in res.items() if 'hog' in n]}")
    assert peak["programs"] == 4  # four programs really ran at once
    assert peak["total"] <= 4 * (256 + 64) * mib, peak["total"] / mib
    assert s["sandbox"]["all_programs"] == {"programs_at_once": 4, "memory_gib": 1.0, "processes": 256,
                                            "disk_gib": 0.25}
