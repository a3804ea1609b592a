"""The unprivileged sandbox (a user namespace: what a user without root gets), run here as root with
DSCODER_EVAL_SANDBOX=userns: the same view, limits, verdicts and clean-up, with the program as uid 0
of its user namespace and no capability."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from eval_test_helpers import read_jsonl, skip_without, write_jsonl  # noqa: E402
from test_eval_hostile import TASK, sandbox_uid_processes  # noqa: E402
from test_eval_sandbox_lifecycle import REPO, SLEEPS_AND_FORKS, _processes_of, _wait_for  # noqa: E402


@pytest.fixture
def userns(monkeypatch):
    import stages.eval.sandbox as sandbox
    monkeypatch.setenv(sandbox.ENV_MODE, "userns")
    monkeypatch.setattr(sandbox, "_CAPS", None)
    if os.geteuid() != 0:
        pytest.skip("forcing the unprivileged sandbox needs root (a uid of its own to become)")
    if not sandbox.capabilities()["namespaces"]:
        pytest.skip(f"no user namespaces here: {sandbox.capabilities()['problem']}")
    # OUTPUT where the worker's uid can reach it (pytest's own tmp folder is root's 0700)
    folder = Path(tempfile.mkdtemp(prefix="dscoder-userns-", dir="/tmp"))
    os.chmod(folder, 0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
    monkeypatch.setattr(sandbox, "_CAPS", None)


BODIES = {
    "correct": ("    return x + 1\n", "passed"),
    "wrong": ("    return x\n", "wrong_answer"),
    "early_exit": ("    import os\n    os._exit(0)\n", "incomplete"),
    "fork_bomb": ("    import os\n    while True:\n        try:\n            os.fork()\n        except OSError:\n"
                  "            pass\n", "timeout"),
    "alloc_50gb": ("    b = bytearray(50 * 10**9)\n    return x + 1\n", "memory_limit"),
    "setsid_escape": ("    import os, time\n    for _ in range(3):\n        if os.fork() == 0:\n"
                      "            os.setsid()\n            time.sleep(600)\n    return x + 1\n", "passed"),
    "no_capability": ("    import os\n    caps = [l for l in open('/proc/self/status') if l.startswith(('CapEff', 'CapPrm', "
                      "'CapBnd', 'CapAmb'))]\n    assert all(l.split()[1] == '0' * 16 for l in caps), caps\n"
                      "    try:\n        os.mkdir('/usr/x')\n    except OSError:\n        pass\n"
                      "    else:\n        return 0\n    try:\n        open('/proc/1/environ').read()\n"
                      "    except PermissionError:\n        pass\n    else:\n        return 0\n"
                      "    assert os.getuid() == 0 and not os.path.exists('/root') and not os.path.exists('/home')\n"
                      "    return x + 1\n", "passed"),
    "write_outside": ("    open('/etc/dscoder-pwned', 'w')\n", "crash"),
}


def test_unprivileged_sandbox_contains_and_judges(cli, userns):
    skip_without("python")
    out = userns / "out"
    bench = write_jsonl(userns / "u.jsonl", [{**TASK, "task_id": f"t/{n}"} for n in BODIES])
    gens = write_jsonl(userns / "g.jsonl", [{"task_id": f"t/{n}", "completion": c} for n, (c, _) in BODIES.items()])
    s = cli.json("eval", out, "--generations", gens, "--benchmarks", "", "--benchmark-file", bench, "--timeout", 3)
    assert s["sandbox"]["mode"] == "userns" and s["sandbox"]["namespaces"]
    res = {r["task_id"][2:]: r for r in read_jsonl(out / "file-u" / "results.jsonl")}
    assert {n: r["status"] for n, r in res.items()} == {n: want for n, (_, want) in BODIES.items()}, res
    assert not sandbox_uid_processes(os.getpid()) and not (out / "_scratch").exists()


def test_unprivileged_sandbox_dies_with_its_evaluator(userns):
    skip_without("python")
    bench = write_jsonl(userns / "u.jsonl", [{**TASK, "task_id": "t/sleeper"}])
    gens = write_jsonl(userns / "g.jsonl", [{"task_id": "t/sleeper", "completion": SLEEPS_AND_FORKS}])
    env = {**os.environ, "DSCODER_EVAL_SANDBOX": "userns"}
    proc = subprocess.Popen([sys.executable, "-m", "dscoder_cli", "eval", str(userns / "out"), "--generations", str(gens),
                             "--benchmarks", "", "--benchmark-file", str(bench), "--timeout", "60"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        found = _wait_for(lambda: (lambda p: p if len(p) >= 6 else None)(sandbox_uid_processes(proc.pid)), 60,
                          "the sandboxed program to fork")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        time.sleep(1.0)
        uids = set(found.values())
        assert _processes_of(uids) == [] and not (userns / "out" / "_scratch").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
