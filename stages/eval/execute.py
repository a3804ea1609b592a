"""Compile and run one assembled program in the sandbox and give it a verdict (a worker's job).

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
sh     bash -n prog.sh (a syntax check)                                 bash prog.sh
====== ================================================================ ==========================

The verdict -- when a program passes, and the label of everything else -- is ``verdicts.py``'s;
the sandbox is ``sandbox.py``'s; the pool of workers that run jobs is ``pool.py``'s.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from typing import Optional

from .config import COMPILE_TIMEOUT
from .sandbox import Sandbox, Step
from .verdicts import Markers, instrument, judge

SANDBOX_PYTHON = "/usr/bin/python3"  # docs/eval.md: a pyenv/venv Python in root's 0700 home is unreachable

JAVATUPLES_CANDIDATES = ["/usr/share/java/javatuples-1.2.jar", "/usr/share/java/javatuples.jar"]
LANGUAGES = ("python", "cpp", "java", "js", "ts", "php", "cs", "sh")
TOOLS = {"python": [], "cpp": ["g++"], "java": ["javac", "java"], "js": ["node"], "ts": ["tsc", "node"],
         "php": ["php"], "cs": ["mcs", "mono"], "sh": ["bash"]}


@dataclass(frozen=True)
class Job:
    """One program to run (picklable: it crosses to a worker process)."""

    key: tuple  # (task_id, sample)
    language: str
    code: str  # everything before the tests (prompt + completion, imports, includes); deepseek: the program
    tests: str  # the benchmark's tests (strict)
    timeout: float
    protocol: str = "strict"  # strict (verdicts.py) | deepseek (deepseek.py)
    options: tuple = ()  # (name, value) pairs: python (an interpreter), mode ("answer": PAL-Math), guard


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
    if language == "python" and python_interpreter() is None:
        return "no python3"
    for tool in TOOLS[language]:
        if _which(tool) is None:
            return f"no {tool}"
    if language == "java" and javatuples_jar() is None:
        return "no javatuples jar (Debian: libjavatuples-java; or set $DSCODER_JAVATUPLES_JAR)"
    return None


def toolchain_paths(language: str) -> list[str]:
    """Host paths outside /usr the language's tools need in the sandbox's view (a JDK in /opt, the
    jar elsewhere): each tool's installation prefix (the folder above its bin/)."""
    tools = [python_interpreter() or "python3"] if language == "python" else [_which(t) for t in TOOLS[language]]
    out = []
    for tool in tools:
        if tool:
            real = os.path.realpath(tool)
            if not real.startswith("/usr/"):
                out.append(os.path.dirname(os.path.dirname(real)))
    if language == "java" and javatuples_jar() and not os.path.realpath(javatuples_jar()).startswith("/usr/"):
        out.append(os.path.realpath(javatuples_jar()))
    return out


def _has_libcrypto() -> bool:
    return os.path.exists("/usr/include/openssl/md5.h")


def commands(language: str) -> tuple[str, Optional[list[str]], list[str], dict]:
    """(source file name, compile argv, run argv, extra env) for one language."""
    if language == "python":
        return "prog.py", None, [python_interpreter(), "prog.py"], {}
    if language == "cpp":
        link = ["-lcrypto", "-lssl"] if _has_libcrypto() else []  # task 162 uses md5 (DeepSeek links these)
        return "prog.cpp", ["g++", "-std=c++17", "prog.cpp", "-o", "prog", *link], ["./prog"], {}
    if language == "java":
        jar = os.path.realpath(javatuples_jar())
        return ("Problem.java", ["javac", "-encoding", "UTF8", "-cp", jar, "-d", ".", "Problem.java"],
                ["java", "-ea", "-cp", f".:{jar}", "Problem"], {})
    if language == "js":
        return "prog.js", None, ["node", "prog.js"], {}
    if language == "ts":
        return "prog.ts", ["tsc", "--target", "esnext", "prog.ts"], ["node", "prog.js"], {}
    if language == "php":
        return "prog.php", None, ["php", "prog.php"], {}
    if language == "cs":
        return ("prog.cs", ["mcs", "-d:DEBUG", "-r:System.Numerics.dll", "prog.cs", "-out:prog.exe"],
                ["mono", "prog.exe"],
                # a failed Debug.Assert reaches stderr; a crash is not followed by seconds of gdb backtrace
                {"MONO_TRACE_LISTENER": "Console.Error", "MONO_DEBUG": "no-gdb-backtrace"})
    if language == "sh":
        return "prog.sh", ["bash", "-n", "prog.sh"], ["bash", "prog.sh"], {}
    raise ValueError(f"unknown language {language!r}")


def run_job(job: Job, sandbox: Sandbox) -> dict:
    """Compile (if needed) and run one program in `sandbox` under the strict protocol (a deepseek job
    goes to `deepseek.run_job`: the pool's worker picks); a verdict dict. Raises only
    `sandbox.Aborted` (the job was killed from outside and has no verdict)."""
    opts = dict(job.options)
    markers = Markers.new()  # per run, in the worker: the evaluator never sees the end token
    try:
        source = instrument(job.language, job.code, job.tests, markers)
        src, compile_argv, run_argv, env = commands(job.language)
        if opts.get("python"):
            run_argv = [opts["python"], *run_argv[1:]]
    except Exception as exc:  # noqa: BLE001 - a program the harness cannot assemble
        return _result(job, "harness_error", f"{type(exc).__name__}: {exc}", None, 0.0)
    limits = sandbox.cfg.limits
    env_items = tuple(sorted(env.items()))
    compile_timeout = max(COMPILE_TIMEOUT, job.timeout)
    steps = []
    if compile_argv is not None:
        steps.append(Step("compile", tuple(compile_argv), compile_timeout, env_items))
    steps.append(Step("run", tuple(run_argv), job.timeout, env_items, end_token=markers.end))
    results = sandbox.run({src: source.encode("utf-8")}, steps)
    last = results[-1]
    status, reason = judge(job.language, results, markers, limits,
                           compile_timeout if last.name == "compile" else job.timeout)
    exit_code = last.exit_code if last.signal is None else -last.signal
    out = _result(job, status, reason, exit_code, sum(r.seconds for r in results))
    if opts.get("mode") == "answer":
        out["answer"] = tagged_answer(last.stdout, markers.end) if status == "passed" else None
    return out


def tagged_answer(stdout: str, end_token: str) -> Optional[str]:
    """PAL-Math (strict): the value the answer statement printed, the last tagged line before the token."""
    from .programs import ANSWER_TAG
    head = stdout[:stdout.rfind(end_token)] if end_token in stdout else stdout
    i = head.rfind("\n" + ANSWER_TAG)
    if i < 0:
        return None
    try:
        value = json.loads(head[i + 1 + len(ANSWER_TAG):].split("\n", 1)[0])
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def ds1000_env() -> Optional[str]:
    """The DS-1000 eval environment (`make ds1000-env`): $DSCODER_DS1000_ENV, else .venv-ds1000 in the
    current folder or beside the package. A venv of /usr/bin/python3: its bin/python is that
    interpreter, and it finds the environment's site-packages by the venv's pyvenv.cfg."""
    candidates = [os.environ.get(DS1000_ENV_VAR, ""), os.path.abspath(".venv-ds1000"),
                  os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                               ".venv-ds1000")]
    for path in candidates:
        if path and os.path.isfile(os.path.join(path, "pyvenv.cfg")) and os.path.exists(os.path.join(path, "bin",
                                                                                                      "python")):
            return path
    return None


DS1000_ENV_VAR = "DSCODER_DS1000_ENV"
DS1000_ENV_SEEN_AT = "/opt/dscoder-ds1000"  # where the sandboxed programs see the environment (read-only)


def _result(job: Job, status: str, reason: str, exit_code: Optional[int], seconds: float) -> dict:
    return {"key": job.key, "protocol": job.protocol, "status": status, "passed": status == "passed",
            "reason": reason, "exit_code": exit_code, "seconds": round(seconds, 3)}
