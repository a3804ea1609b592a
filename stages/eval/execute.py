"""Compile and run assembled programs in the sandbox, in parallel, and give each a verdict.

Per language (MultiPL-E's recipe, with DeepSeek's differences noted in docs/eval.md):

====== ================================================================ ==========================
lang   compile                                                          run
====== ================================================================ ==========================
python                                                                  /usr/bin/python3 prog.py
cpp    g++ -std=c++17 prog.cpp -o prog [-lcrypto -lssl]                 ./prog
java   javac -encoding UTF8 -cp javatuples.jar -d . Problem.java        java -ea -cp .:jar Problem
js                                                                      node prog.js
ts     tsc --target esnext prog.ts                                      node prog.js
php                                                                     php prog.php
cs     mcs -d:DEBUG -r:System.Numerics.dll prog.cs -out:prog.exe        mono prog.exe
sh                                                                      bash prog.sh
====== ================================================================ ==========================

A program passes when it exits 0 (C#: and no failed ``Debug.Assert`` on stderr, because a failed
assert exits 0 under mono). Every other outcome gets one status: ``wrong_answer`` (a test assertion
failed), ``compile_error``, ``timeout``, ``memory_limit``, ``output_limit``, ``crash`` (anything
else: an exception, a signal), or ``harness_error`` (the sandbox itself could not start it).
"""

from __future__ import annotations

import os
import shutil
import signal
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Optional

from .config import COMPILE_TIMEOUT
from .sandbox import Limits, RunResult, Sandbox, capabilities, make_sandbox_root, random_uid_block

STATUSES = ("passed", "wrong_answer", "compile_error", "timeout", "memory_limit", "output_limit", "crash",
            "harness_error")

SANDBOX_PYTHON = "/usr/bin/python3"  # docs/eval.md: a pyenv/venv Python in root's 0700 home is unreachable

JAVATUPLES_CANDIDATES = ["/usr/share/java/javatuples-1.2.jar", "/usr/share/java/javatuples.jar"]


@dataclass(frozen=True)
class Job:
    """One program to run (picklable: it crosses to a worker process)."""

    key: tuple  # (task_id, sample)
    language: str
    source: str
    timeout: float


def _which(name: str) -> Optional[str]:
    return shutil.which(name, path="/usr/local/bin:/usr/bin:/bin:" + os.environ.get("PATH", ""))


def python_interpreter() -> Optional[str]:
    if os.path.exists(SANDBOX_PYTHON):
        return SANDBOX_PYTHON
    return _which("python3")


def javatuples_jar() -> Optional[str]:
    for path in [os.environ.get("DSCODER_JAVATUPLES_JAR", "")] + JAVATUPLES_CANDIDATES:
        if path and os.path.exists(path):
            return path
    return None


def detect_toolchain(language: str) -> Optional[str]:
    """None when `language` can run here, else the reason it cannot ("no javac")."""
    needs = {"python": [], "cpp": ["g++"], "java": ["javac", "java"], "js": ["node"], "ts": ["tsc", "node"],
             "php": ["php"], "cs": ["mcs", "mono"], "sh": ["bash"]}[language]
    if language == "python" and python_interpreter() is None:
        return "no python3"
    for tool in needs:
        if _which(tool) is None:
            return f"no {tool}"
    if language == "java" and javatuples_jar() is None:
        return "no javatuples jar (Debian: libjavatuples-java; or set $DSCODER_JAVATUPLES_JAR)"
    return None


def _has_libcrypto() -> bool:
    return os.path.exists("/usr/include/openssl/md5.h")


def commands(language: str, wd: Path) -> tuple[dict, Optional[list[str]], list[str], dict]:
    """(file names by role, compile argv, run argv, extra env) for one language."""
    if language == "python":
        return {"src": "prog.py"}, None, [python_interpreter(), "prog.py"], {}
    if language == "cpp":
        link = ["-lcrypto", "-lssl"] if _has_libcrypto() else []  # task 162 uses md5 (DeepSeek links these)
        return {"src": "prog.cpp"}, ["g++", "-std=c++17", "prog.cpp", "-o", "prog", *link], ["./prog"], {}
    if language == "java":
        jar = javatuples_jar()
        return ({"src": "Problem.java"},
                ["javac", "-encoding", "UTF8", "-cp", jar, "-d", ".", "Problem.java"],
                ["java", "-ea", "-cp", f".:{jar}", "Problem"], {})
    if language == "js":
        return {"src": "prog.js"}, None, ["node", "prog.js"], {}
    if language == "ts":
        return {"src": "prog.ts"}, ["tsc", "--target", "esnext", "prog.ts"], ["node", "prog.js"], {}
    if language == "php":
        return {"src": "prog.php"}, None, ["php", "prog.php"], {}
    if language == "cs":
        return ({"src": "prog.cs"}, ["mcs", "-d:DEBUG", "-r:System.Numerics.dll", "prog.cs", "-out:prog.exe"],
                ["mono", "prog.exe"], {"MONO_TRACE_LISTENER": "Console.Error"})
    if language == "sh":
        return {"src": "prog.sh"}, None, ["bash", "prog.sh"], {}
    raise ValueError(f"unknown language {language!r}")


_MEMORY_MARKERS = ("MemoryError", "std::bad_alloc", "OutOfMemoryError", "heap out of memory",
                   "Allowed memory size", "Cannot allocate memory", "Out of memory", "out of memory")
_ASSERT_MARKERS = {
    "python": ("AssertionError",),
    "cpp": ("Assertion `", "Assertion failed"),
    "java": ("AssertionError",),
    "js": ("AssertionError", "ERR_ASSERTION"),
    "ts": ("AssertionError", "ERR_ASSERTION"),
    "php": ("Test failed!",),
    "cs": ("Fail:", "Assertion Failed", "ASSERT"),
    "sh": (),
}


def verdict(language: str, run: RunResult) -> tuple[str, str]:
    """(status, short reason) of a finished run."""
    err = run.stderr
    if run.setup_error:
        return "harness_error", run.setup_error
    if run.timed_out:
        return "timeout", "wall-clock timeout"
    if run.output_capped:
        return "output_limit", "output cap reached"
    if run.signal in (signal.SIGXCPU, signal.SIGKILL) and not any(m in err for m in _MEMORY_MARKERS):
        # RLIMIT_CPU (soft = hard) ends in SIGKILL; nothing else sends SIGKILL to a live program here.
        return "timeout", f"CPU time limit (signal {signal.Signals(run.signal).name})"
    if run.exit_code == 0:
        if language == "cs" and ("Fail" in err or "Unhandled" in err):
            return "wrong_answer", _tail(err)
        return "passed", ""
    if any(m in err for m in _MEMORY_MARKERS):
        return "memory_limit", _tail(err)
    if any(m in err for m in _ASSERT_MARKERS[language]):
        return "wrong_answer", _tail(err)
    if language == "sh" and run.signal is None:
        return "wrong_answer", f"exit code {run.exit_code}"  # `set -e` + a failed [[ test ]]
    if run.signal is not None:
        if run.signal == signal.SIGXFSZ:
            return "output_limit", "file size limit (SIGXFSZ)"
        return "crash", f"killed by {signal.Signals(run.signal).name}" + (f": {_tail(err)}" if err.strip() else "")
    return "crash", _tail(err) or f"exit code {run.exit_code}"


def _tail(text: str, n: int = 600) -> str:
    text = text.strip()
    return text if len(text) <= n else "…" + text[-n:]


# --------------------------------------------------------------------------------------- workers
_SANDBOX: Optional[Sandbox] = None


def _init_worker(root: str, uid_queue) -> None:
    global _SANDBOX
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    uid = uid_queue.get() if uid_queue is not None else None
    _SANDBOX = Sandbox(Path(root), uid=uid)


def run_job(job: Job, sandbox: Optional[Sandbox] = None) -> dict:
    """Compile (if needed) and run one program; a verdict dict. Never raises."""
    sb = sandbox or _SANDBOX
    wd = sb.make_workdir()
    try:
        files, compile_argv, run_argv, env = commands(job.language, wd)
        sb.write_files(wd, {files["src"]: job.source})
        compile_seconds = 0.0
        if compile_argv is not None:
            limits = Limits(timeout=max(COMPILE_TIMEOUT, job.timeout))
            c = sb.run(compile_argv, wd, limits, env)
            compile_seconds = c.seconds
            if not c.ok:
                status, reason = verdict(job.language, c)
                if status not in ("harness_error",):
                    status, reason = "compile_error", _tail(c.stdout + c.stderr) or reason
                return _result(job, status, reason, c, compile_seconds)
        r = sb.run(run_argv, wd, Limits(timeout=job.timeout), env)
        status, reason = verdict(job.language, r)
        return _result(job, status, reason, r, compile_seconds)
    except Exception as exc:  # the harness survives anything
        return {"key": job.key, "status": "harness_error", "passed": False, "reason": f"{type(exc).__name__}: {exc}",
                "exit_code": None, "seconds": 0.0}
    finally:
        sb.remove_workdir(wd)


def _result(job: Job, status: str, reason: str, run: RunResult, compile_seconds: float) -> dict:
    return {"key": job.key, "status": status, "passed": status == "passed", "reason": reason,
            "exit_code": run.exit_code if run.signal is None else -run.signal,
            "seconds": round(run.seconds + compile_seconds, 3)}


def _run_in_worker(job: Job) -> dict:
    return run_job(job)


class Executor:
    """A pool of sandbox workers (processes: preexec_fn is not thread-safe), each with its own uid."""

    def __init__(self, workers: int):
        import multiprocessing as mp
        self.caps = capabilities()
        self.root = make_sandbox_root()
        ctx = mp.get_context("fork")
        uid_queue = None
        if self.caps["root"]:
            uid_queue = ctx.Queue()
            base = random_uid_block(workers)
            for i in range(workers):
                uid_queue.put(base + i)
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                        initargs=(str(self.root), uid_queue))
        self.workers = workers

    def map(self, jobs: Iterable[Job]) -> Iterator[dict]:
        """Results as they finish (not in order); bounded number of jobs in flight."""
        from concurrent.futures import FIRST_COMPLETED, wait
        pending = set()
        it = iter(jobs)
        limit = self.workers * 4
        for job in it:
            pending.add(self.pool.submit(_run_in_worker, job))
            if len(pending) >= limit:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    yield f.result()
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                yield f.result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
