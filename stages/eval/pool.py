"""The processes that run jobs: a pool of sandbox workers and a watcher that cleans up after them.

::

    dscoder eval (the evaluator)
     ├─ watcher   own session; blocks on a pipe only the evaluator holds. When the evaluator is gone
     │            (exited, crashed, SIGKILLed), it kills every process of the sandbox uids and removes
     │            the scratch folder (OUTPUT/_scratch/<pid>), then exits.
     └─ worker ×N own session (Ctrl-C is the evaluator's to handle), one uid each, an empty network
                  namespace; dies with the evaluator (PR_SET_PDEATHSIG); runs one job at a time
                  (``sandbox.Sandbox.run``: its A/B die with it, and the job's namespace with B).

Workers are fresh interpreters (``python -m stages.eval.pool worker``), not forks of the evaluator,
so a job's forks copy a small process even when the evaluator holds a model. Jobs and results
cross as pickles on the workers' stdin and stdout.

Ctrl-C (SIGINT) or SIGTERM in the evaluator: no new job starts, the jobs running get
``INTERRUPT_GRACE`` seconds to finish (their results are kept), then they are killed and dropped
(a re-run runs them again).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Iterable, Iterator, Optional

from .sandbox import (Aborted, Limits, Sandbox, SandboxConfig, capabilities, kill_uid, random_uid_block,
                      remove_tree, set_pdeathsig, uid_has_processes)

SCRATCH = "_scratch"  # OUTPUT/_scratch/<evaluator pid>: the mount point of every job's tmpfs


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def remove_stale_scratch(parent: Path) -> None:
    """Scratch folders of evaluators that are gone (a run killed with its watcher: a Slurm job's end)."""
    if not parent.is_dir():
        return
    for child in parent.iterdir():
        if not (child.name.isdigit() and _pid_alive(int(child.name))):
            remove_tree(child)
    try:
        parent.rmdir()
    except OSError:
        pass


class _Worker:
    def __init__(self, cfg: SandboxConfig):
        self.cfg = cfg
        self.proc = subprocess.Popen([sys.executable, "-m", "stages.eval.pool", "worker", str(os.getpid())],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True,
                                     close_fds=True)
        self.send_conn = Connection(os.dup(self.proc.stdin.fileno()), readable=False)
        self.recv_conn = Connection(os.dup(self.proc.stdout.fileno()), writable=False)
        self.proc.stdin.close()
        self.proc.stdout.close()
        self.send_conn.send(cfg)
        self.job = None

    def send(self, job) -> None:
        self.job = job
        self.send_conn.send(job)

    def interrupt(self) -> None:
        try:
            os.kill(self.proc.pid, signal.SIGUSR1)
        except ProcessLookupError:
            pass

    def close(self) -> None:
        for c in (self.send_conn, self.recv_conn):
            try:
                c.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Executor:
    """Workers that run jobs in the sandbox, each job under `limits`; so at most `workers` programs
    at once, holding at most `workers` times each limit together."""

    def __init__(self, workers: int, scratch_parent: Path, limits: Limits, ro_paths: tuple[str, ...] = (),
                 ro_binds: tuple[tuple[str, str], ...] = ()):
        self.caps = capabilities()
        if not self.caps["namespaces"]:
            raise RuntimeError(f"no sandbox: {self.caps['problem']}")
        self.limits = limits
        self.scratch_parent = Path(scratch_parent)
        remove_stale_scratch(self.scratch_parent)
        self.scratch = self.scratch_parent / str(os.getpid())
        self.scratch.mkdir(parents=True, exist_ok=True)
        os.chmod(self.scratch, 0o755)
        userns = self.caps["mode"] == "userns"
        if os.geteuid() == 0:  # a uid of its own per worker (in a user namespace too: its outer uid)
            base = random_uid_block(workers)
            self.uids = [base + i for i in range(workers)]
            self.own_uids = self.uids  # nobody else's: killing every process of them is safe
        else:  # unprivileged: every worker's user namespace maps its uid 0 to ours
            self.uids = [os.geteuid()] * workers
            self.own_uids = []
        self.watcher = subprocess.Popen(
            [sys.executable, "-m", "stages.eval.pool", "watch", str(self.scratch), ",".join(map(str, self.own_uids))],
            stdin=subprocess.PIPE, start_new_session=True, close_fds=True)
        self.configs = [SandboxConfig(str(self.scratch), uid, limits, ro_paths, ro_binds=ro_binds,
                                      userns=userns) for uid in self.uids]
        self.workers = [_Worker(c) for c in self.configs]
        self.busy: dict[Connection, _Worker] = {}
        self.stopping = False
        self.closed = False

    def _restart(self, w: _Worker) -> _Worker:
        w.close()
        if w.cfg.uid in self.own_uids:
            kill_uid(w.cfg.uid)
        new = _Worker(w.cfg)
        self.workers[self.workers.index(w)] = new
        return new

    def _collect(self, timeout: Optional[float]) -> Iterator[dict]:
        """Results of busy workers that answer within `timeout` (None: wait for one)."""
        ready = wait(list(self.busy), timeout)
        for conn in ready:
            w = self.busy.pop(conn)
            job = w.job
            try:
                key, res = conn.recv()
            except (EOFError, OSError):  # the worker died (killed, out of memory): its job has no verdict
                self._restart(w)
                if not self.stopping:
                    yield {"key": job.key, "status": "harness_error", "passed": False,
                           "reason": "the sandbox worker died while running this program", "exit_code": None,
                           "seconds": 0.0}
                continue
            if res is not None:
                yield res

    def map(self, jobs: Iterable) -> Iterator[dict]:
        """Results as they finish (in no particular order); at most one job per worker in flight."""
        it = iter(jobs)
        exhausted = False
        while True:
            idle = [w for w in self.workers if w.recv_conn not in self.busy]
            while idle and not exhausted and not self.stopping:
                job = next(it, None)
                if job is None:
                    exhausted = True
                    break
                w = idle.pop()
                w.send(job)
                self.busy[w.recv_conn] = w
            if not self.busy:
                return
            yield from self._collect(None)

    def stop(self, grace: float) -> Iterator[dict]:
        """After Ctrl-C: start nothing new; results of the jobs that finish within `grace` seconds;
        the rest are killed and dropped."""
        self.stopping = True
        deadline = time.monotonic() + grace
        while self.busy and time.monotonic() < deadline:
            yield from self._collect(max(deadline - time.monotonic(), 0))
        for w in self.busy.values():
            w.interrupt()
        deadline = time.monotonic() + 5
        while self.busy and time.monotonic() < deadline:
            for _ in self._collect(max(deadline - time.monotonic(), 0)):
                pass  # killed in flight: no verdict
        for conn in list(self.busy):  # unresponsive: kill the worker (its jobs die with it)
            w = self.busy.pop(conn)
            w.proc.kill()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for w in self.workers:
            if w.recv_conn in self.busy:
                w.proc.kill()
            w.close()
        for uid in self.own_uids:
            kill_uid(uid)
        remove_tree(self.scratch)
        try:
            self.scratch_parent.rmdir()
        except OSError:
            pass
        try:
            self.watcher.stdin.close()  # the watcher finds nothing left and exits
            self.watcher.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# -------------------------------------------------------------------------- the worker process
def worker_main(evaluator: int) -> None:
    from .deepseek import run_job as run_deepseek
    from .execute import run_job as run_strict

    def run_job(job, sandbox):  # each job under its protocol's rules: verdicts.py's or DeepSeek's
        return (run_deepseek if job.protocol == "deepseek" else run_strict)(job, sandbox)
    set_pdeathsig(evaluator)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    recv_conn = Connection(os.dup(0), writable=False)
    send_conn = Connection(os.dup(1), readable=False)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # a stray print must not corrupt the channel
    cfg: SandboxConfig = recv_conn.recv()
    sandbox = Sandbox(cfg)
    sandbox.isolate_network()
    signal.signal(signal.SIGUSR1, lambda *_: sandbox.abort())
    try:
        while True:
            try:
                job = recv_conn.recv()
            except (EOFError, OSError):
                return
            try:
                res = run_job(job, sandbox)
            except Aborted:
                res = None
            send_conn.send((job.key, res))
    finally:
        sandbox.close()  # the supervisor exits and is reaped (its CPU time is then the worker's children's)


# ------------------------------------------------------------------------- the watcher process
def watch_main(scratch: str, uids: list[int]) -> None:
    """Wait until the evaluator is gone, then make sure nothing of its sandbox is left."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # a job-wide SIGTERM must not take the cleanup with it
    try:
        while os.read(0, 65536):
            pass
    except OSError:
        pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for uid in uids:
            kill_uid(uid)
        if not any(uid_has_processes(uid) for uid in uids):
            break
        time.sleep(0.05)
    remove_tree(Path(scratch))
    try:
        Path(scratch).parent.rmdir()
    except OSError:
        pass


if __name__ == "__main__":
    if sys.argv[1] == "worker":
        worker_main(int(sys.argv[2]))
    elif sys.argv[1] == "watch":
        watch_main(sys.argv[2], [int(u) for u in sys.argv[3].split(",") if u])
