"""Hostile programs are contained, marked failed with the right reason, and the run goes on; what a
program can see of the host is only its folder and the toolchains."""

import os
import socket
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from eval_test_helpers import read_jsonl, skip_without, write_jsonl  # noqa: E402

TASK = {"task_id": "t/0", "prompt": "def f(x):\n", "entry_point": "f",
        "test": "\n\ndef check(candidate):\n    assert candidate(2) == 3\n"}
REPO = Path(__file__).resolve().parents[3]


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


def sandbox_uid_processes(root_pid: int) -> dict[int, int]:
    """{pid: uid} of processes with a sandbox uid (>= 1,000,000) descending from `root_pid`."""
    parents, uids = {}, {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            parents[int(pid)] = int(fields[1])
            uids[int(pid)] = os.stat(f"/proc/{pid}").st_uid
        except (OSError, ValueError, IndexError):
            continue
    out = {}
    for pid, uid in uids.items():
        p, seen = pid, 0
        while p in parents and p != root_pid and seen < 64:
            p, seen = parents[p], seen + 1
        if p == root_pid and uid >= 1_000_000:
            out[pid] = uid
    return out


def test_hostile_programs(cli, tmp_path):
    skip_without("python")
    srv, accepted, stop = _listener()
    port = srv.getsockname()[1]
    outside = tmp_path / "outside-written"
    os.chmod(tmp_path, 0o777)  # even a world-writable folder outside the work dir must stay untouched
    secret = tmp_path / "world-readable-secret"
    secret.write_text("secret")
    os.chmod(secret, 0o644)
    host_paths = ["/etc/passwd", "/etc/hostname", "/root", "/home", "/var", "/opt", "/srv", str(REPO), str(secret),
                  str(tmp_path / "out"), "/sys/kernel"]
    body = {
        "correct": "    return x + 1\n",
        "wrong": "    return x\n",
        "infinite_loop": "    while True:\n        pass\n",
        "fork_bomb": "    import os\n    while True:\n        try:\n            os.fork()\n        except OSError:\n"
                     "            pass\n",
        "forks_a_spinner_every_second": "    import os, time\n    while True:\n        if os.fork() == 0:\n"
                                        "            while True:\n                pass\n        time.sleep(1)\n",
        "alloc_50gb": "    b = bytearray(50 * 10**9)\n    return x + 1\n",
        "write_outside": f"    open({str(outside)!r}, 'w').write('pwned')\n    return x + 1\n",
        "socket": f"    import socket\n    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
                  "    return x + 1\n",
        "print_1gb": "    import sys\n    chunk = 'x' * (1 << 20)\n    for _ in range(1024):\n"
                     "        sys.stdout.write(chunk)\n    return x + 1\n",
        "setsid_escape": "    import os, time\n    for _ in range(5):\n        if os.fork() == 0:\n"
                         "            os.setsid()\n            time.sleep(600)\n    return x + 1\n",
        "crash": "    raise ValueError('boom')\n",
        # A program that closed its stdout cannot show that its tests ran to the end.
        "closes_output": "    import os, time\n    try:\n        os.close(1)\n        os.close(2)\n    except OSError:\n"
                         "        pass\n    time.sleep(1)\n    return x + 1\n",
        # Passes only when no host file is visible; /tmp and /work are its own.
        "host_files": f"    import os\n    seen = [p for p in {host_paths!r} if os.path.exists(p)]\n"
                      "    try:\n        seen.append(open('/proc/1/environ').read())  # its supervisor's: root's\n"
                      "    except PermissionError:\n        pass\n"
                      "    try:\n        seen.append(os.listdir('/.scratch'))  # where the scratch tmpfs is made: root's\n"
                      "    except PermissionError:\n        pass\n"
                      "    open('/tmp/mine', 'w').write('ok')\n    open('/work/mine', 'w').write('ok')\n"
                      "    top = set(os.listdir('/'))\n"
                      "    assert not seen and top <= {'bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32', 'usr', 'etc',"
                      " 'dev', 'proc', 'tmp', 'work', '.scratch'}, (seen, top)\n"
                      "    assert set(os.listdir('/etc')) <= {'alternatives', 'ld.so.cache', 'localtime', 'mono', 'php'}"
                      " | {n for n in os.listdir('/etc') if n.startswith('java-')}, os.listdir('/etc')\n"
                      "    assert sorted(os.listdir('/proc'))[0].isdigit() and len([p for p in os.listdir('/proc')"
                      " if p.isdigit()]) <= 3\n    return x + 1\n",
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
        "forks_a_spinner_every_second": "timeout", "alloc_50gb": "memory_limit", "write_outside": "crash",
        "socket": "crash", "print_1gb": "output_limit", "setsid_escape": "passed", "crash": "crash",
        "closes_output": "incomplete", "host_files": "passed"}, res
    assert "FileNotFoundError" in res["write_outside"]["reason"]  # the folder is not even there
    # Landlock refuses the TCP connect (EACCES); without it the empty network namespace would (ENETUNREACH).
    assert "Permission denied" in res["socket"]["reason"] or "Network is unreachable" in res["socket"]["reason"]
    assert not outside.exists()
    assert not accepted  # no connection reached the listener
    assert res["infinite_loop"]["seconds"] < 10 and res["print_1gb"]["seconds"] < 10
    assert res["forks_a_spinner_every_second"]["seconds"] < 10
    assert s["benchmarks"]["file-hostile"]["pass@1"] == 3 / len(body)
    assert list(res) == list(body)  # results in task order
    # Nothing of any run is left: no process of a sandbox uid under this test, no scratch folder.
    assert not sandbox_uid_processes(os.getpid())
    assert not (tmp_path / "out" / "_scratch").exists()


def test_nothing_crosses_from_one_job_to_the_next(cli, tmp_path):
    """One worker runs both jobs one after the other: the second finds no file, no process and no
    SysV IPC object the first one left."""
    skip_without("python")
    leave = ("    import ctypes, os, time\n"
             "    open('/work/left', 'w').write('x')\n    open('/tmp/left', 'w').write('x')\n"
             "    libc = ctypes.CDLL(None, use_errno=True)\n"
             "    assert libc.shmget(4242, 4096, 0o1000 | 0o600) >= 0\n"  # IPC_CREAT
             "    if os.fork() == 0:\n        os.setsid()\n        time.sleep(600)\n"
             "    return x + 1\n")
    find = ("    import ctypes, os\n"
            "    libc = ctypes.CDLL(None, use_errno=True)\n"
            "    left = [p for p in ('/work/left', '/tmp/left') if os.path.exists(p)]\n"
            "    others = [p for p in os.listdir('/proc') if p.isdigit() and int(p) not in (1, os.getpid())]\n"
            "    assert not left and not others and libc.shmget(4242, 0, 0) == -1, (left, others)\n"
            "    assert os.listdir('/work') == ['prog.py'] and os.listdir('/tmp') == []\n"
            "    return x + 1\n")
    tasks = [{**TASK, "task_id": f"t/{n}"} for n in ("a_leave", "b_find")]
    bench = write_jsonl(tmp_path / "cross.jsonl", tasks)
    gens = write_jsonl(tmp_path / "g.jsonl", [{"task_id": "t/a_leave", "completion": leave},
                                              {"task_id": "t/b_find", "completion": find}])
    cli.json("eval", tmp_path / "out", "--generations", gens, "--benchmarks", "", "--benchmark-file", bench,
             "--workers", 1)
    res = read_jsonl(tmp_path / "out" / "file-cross" / "results.jsonl")
    assert [(r["task_id"], r["status"]) for r in res] == [("t/a_leave", "passed"), ("t/b_find", "passed")], res
