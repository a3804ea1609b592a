"""Hostile programs are contained, marked failed with the right reason, and the run goes on."""

import os
import socket
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from eval_test_helpers import read_jsonl, skip_without, write_jsonl  # noqa: E402

TASK = {"task_id": "t/0", "prompt": "def f(x):\n", "entry_point": "f",
        "test": "\n\ndef check(candidate):\n    assert candidate(2) == 3\n"}


def _listener():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    accepted = []
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                accepted.append(conn)
            except OSError:
                continue
    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return srv, accepted, stop


def test_hostile_programs(cli, tmp_path):
    skip_without("python")
    srv, accepted, stop = _listener()
    port = srv.getsockname()[1]
    outside = tmp_path / "outside-written"
    os.chmod(tmp_path, 0o777)  # even a world-writable folder outside the work dir must stay untouched
    body = {
        "correct": "    return x + 1\n",
        "wrong": "    return x\n",
        "infinite_loop": "    while True:\n        pass\n",
        "fork_bomb": "    import os\n    while True:\n        try:\n            os.fork()\n        except OSError:\n"
                     "            pass\n",
        "alloc_50gb": "    b = bytearray(50 * 10**9)\n    return x + 1\n",
        "write_outside": f"    open({str(outside)!r}, 'w').write('pwned')\n    open('/tmp/dscoder-pwned', 'w')\n"
                         "    return x + 1\n",
        "socket": f"    import socket\n    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
                  "    return x + 1\n",
        "print_1gb": "    import sys\n    chunk = 'x' * (1 << 20)\n    for _ in range(1024):\n"
                     "        sys.stdout.write(chunk)\n    return x + 1\n",
        "setsid_escape": "    import os, time\n    for _ in range(5):\n        if os.fork() == 0:\n"
                         "            os.setsid()\n            time.sleep(600)\n    return x + 1\n",
        "crash": "    raise ValueError('boom')\n",
        # closing stdout and stderr is not the end of the program: it still passes, after 1 s
        "closes_output": "    import os, time\n    os.close(1)\n    os.close(2)\n    time.sleep(1)\n    return x + 1\n",
    }
    tasks = [{**TASK, "task_id": f"t/{name}"} for name in body]
    bench = write_jsonl(tmp_path / "hostile.jsonl", tasks)
    gens = write_jsonl(tmp_path / "g.jsonl", [{"task_id": f"t/{n}", "completion": c} for n, c in body.items()])
    try:
        s = cli.json("eval", tmp_path / "out", "--generations", gens, "--benchmarks", "", "--benchmark-file", bench,
                     "--timeout", 3, "--workers", 2)
    finally:
        stop.set()
    res = {r["task_id"][2:]: r for r in read_jsonl(tmp_path / "out" / "file-hostile" / "results.jsonl")}
    status = {k: r["status"] for k, r in res.items()}
    assert status == {
        "correct": "passed", "wrong": "wrong_answer", "infinite_loop": "timeout", "fork_bomb": "timeout",
        "alloc_50gb": "memory_limit", "write_outside": "crash", "socket": "crash", "print_1gb": "output_limit",
        "setsid_escape": "passed", "crash": "crash", "closes_output": "passed"}, res
    assert "PermissionError" in res["write_outside"]["reason"]
    assert not outside.exists() and not Path("/tmp/dscoder-pwned").exists()
    assert not accepted  # no connection reached the listener
    assert res["infinite_loop"]["seconds"] < 10 and res["print_1gb"]["seconds"] < 10
    assert s["benchmarks"]["file-hostile"]["pass@1"] == 3 / len(body)
    if s["sandbox"]["uid_per_worker"]:
        # Nothing of any run is left: no process of a sandbox uid (uids are >= 1,000,000).
        leftovers = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if os.stat(f"/proc/{pid}").st_uid >= 1_000_000:
                    leftovers.append(pid)
            except OSError:
                pass
        assert not leftovers
