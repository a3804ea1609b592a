"""Verdicts: when a program counts as passed, and the label and reason of every other outcome.

The ``strict`` protocol (the one dscoder reports; a protocol that reproduces another harness's
rules would sit beside it here):

* **A pass means the tests ran to the end.** :func:`instrument` adds, after the benchmark's tests
  (inside ``main`` for C++, Java and C#), a statement that reads a per-run random token from an
  inherited pipe (fd 3, written by the harness before the program starts; the token is never in
  the program's text or environment) and prints it on stdout. A program passes when it exits with
  status 0 *and* its stdout holds that token. A program that ends before its last test -- any early
  exit, an exception swallowed by a hook that exits 0, a closed stdout -- cannot print it, and a
  program that prints something it guessed prints the wrong token: both are ``incomplete``.
* Interpreted programs (Python, JavaScript/TypeScript, PHP) also print a *begin* token as their very
  first statement, so a parse error (nothing ran) is told apart from a runtime error that looks the
  same (``eval("(")``, ``JSON.parse``): the first is ``compile_error``, the second ``crash``.
* Cheap hardening of the tests themselves: C++ re-includes ``<cassert>`` after the completion (a
  completion's ``#define assert(x)`` cannot turn the tests off); C#'s ``Debug.Assert`` (which under
  mono prints and *continues*) is replaced in the tests by an assert that throws, so no failed
  assertion can reach the end token and no stderr text decides a C# verdict; JavaScript/TypeScript
  freeze ``node:assert`` before the completion runs (``assert.deepEqual = () => {}`` has no effect);
  Bash prints the token only while the tests' ``set -e`` still holds (a shadowed ``set``, errexit
  turned off in a trap).

What the token cannot prove (docs/eval.md, Threat model): that the tests' comparisons meant what
they say -- a completion that returns an object equal to everything, or rewrites the test code's
helpers in ways not listed above, still fools it.

Labels (:data:`STATUSES`), each decided by facts the harness observed first and by a runtime's own
last words only where nothing else tells (an uncaught ``MemoryError`` is the last line of a Python
traceback with exit status 1, not any mention of the word):

==============  ==================================================================================
passed          exit status 0 and the end token on stdout
incomplete      exit status 0 without the end token: the tests did not complete
wrong_answer    a test assertion failed (the language's own failure report and exit status)
compile_error   the compiler failed, or (interpreted) the program failed before its first statement
                with the runtime's syntax-error report
timeout         the wall-clock deadline, or RLIMIT_CPU (its CPU time reached the limit)
memory_limit    all its processes together held more than the memory cap (the harness killed it),
                or the runtime's own out-of-memory failure
output_limit    stdout + stderr over the output cap, or the file-size limit (SIGXFSZ)
disk_limit      it failed with its scratch space (/work, /tmp) full
crash           anything else: an exception, a non-zero exit, a signal not sent by a limit
harness_error   the sandbox could not start it
==============  ==================================================================================
"""

from __future__ import annotations

import re
import secrets
import signal
from dataclasses import dataclass
from typing import Optional, Sequence

from .sandbox import MiB, Limits, StepResult

PROTOCOL = "strict"
STATUSES = ("passed", "incomplete", "wrong_answer", "compile_error", "timeout", "memory_limit", "output_limit",
            "disk_limit", "crash", "harness_error")
INTERPRETED = ("python", "js", "ts", "php")  # print the begin token first


@dataclass(frozen=True)
class Markers:
    """One run's tokens: `begin` is in the program's text, `end` only in the pipe on fd 3."""

    begin: str
    end: str

    @classmethod
    def new(cls) -> "Markers":
        return cls(begin="dscoder-begin-" + secrets.token_hex(8), end="dscoder-end-" + secrets.token_hex(16))


# ------------------------------------------------------------------------------------ instrument
def _python(code: str, tests: str, m: Markers) -> str:
    begin = f'__import__("os").write(1, b"{m.begin}\\n")\n'
    if "from __future__" in code:  # must stay the first statement: no begin token then
        begin = ""
    end = ('\ntry:\n    __import__("os").write(1, b"\\n" + __import__("os").read(3, 256))\n'
           "except OSError:\n    pass\n")
    return begin + code + tests + end


def _js(code: str, tests: str, m: Markers) -> str:
    begin = f'require("fs").writeSync(1, "{m.begin}\\n"); Object.freeze(require("node:assert"));\n'
    end = '\ntry { require("fs").writeSync(1, "\\n" + require("fs").readFileSync(3, "utf8")); } catch (dscoderE) { }\n'
    return begin + code + tests + end


def _php(code: str, tests: str, m: Markers) -> str:
    head = "<?php\n"
    body = code[len(head):] if code.startswith(head) else code
    tests = tests.rstrip()[:-2] if tests.rstrip().endswith("?>") else tests
    end = '\ntry { echo "\\n", file_get_contents("php://fd/3"); } catch (\\Throwable $dscoderE) { }\n'
    return f'{head}echo "{m.begin}\\n";\n' + body + tests + end + "?>"


def _before_closing(tests: str, statement: str, depth: int) -> str:
    """`statement` inserted before the `depth`-th closing brace from the end (main's body)."""
    i = len(tests)
    for _ in range(depth):
        i = tests.rfind("}", 0, i)
        if i < 0:
            raise ValueError("the tests have no closing brace of main to put the end-of-tests statement before")
    return tests[:i] + statement + "\n" + tests[i:]


def _cpp(code: str, tests: str, m: Markers) -> str:
    reassert = "\n#undef NDEBUG\n#undef assert\n#include <cassert>\n"
    end = ('    { FILE* dscoder_f = fopen("/dev/fd/3", "r"); char dscoder_b[128] = {0};'
           ' if (dscoder_f) { fread(dscoder_b, 1, sizeof dscoder_b - 1, dscoder_f); }'
           ' printf("\\n%s", dscoder_b); fflush(stdout); }')
    return code + reassert + _before_closing(tests, end, 1)


def _java(code: str, tests: str, m: Markers) -> str:
    end = ('    try { java.lang.System.out.println(); java.lang.System.out.println(new java.io.BufferedReader('
           'new java.io.FileReader("/dev/fd/3")).readLine()); java.lang.System.out.flush(); }'
           ' catch (java.lang.Exception dscoderE) { }')
    return code + _before_closing(tests, end, 2)


CS_ASSERT = ("\nclass DscoderAssertionFailed : global::System.Exception {\n"
             "    public DscoderAssertionFailed() : base(\"a test assertion failed\") { }\n"
             "    public static void Check(bool ok) { if (!ok) { throw new DscoderAssertionFailed(); } }\n}\n")


def _cs(code: str, tests: str, m: Markers) -> str:
    end = ('    try { global::System.Console.WriteLine(); global::System.Console.WriteLine('
           'global::System.IO.File.ReadAllText("/dev/fd/3")); global::System.Console.Out.Flush(); }'
           ' catch (global::System.Exception) { }')
    tests = tests.replace("Debug.Assert(", "DscoderAssertionFailed.Check(")
    return code + _before_closing(tests, end, 2) + CS_ASSERT


def _sh(code: str, tests: str, m: Markers) -> str:
    # Only while `set -e` (the tests' own) still holds: a completion that shadows `set` with a function
    # or turns errexit off in a trap makes failed tests pass silently, and then gets no token.
    end = ("\nif [[ $- == *e* ]]; then { IFS= read -r dscoder_t <&3; printf '\\n%s\\n' \"$dscoder_t\"; } "
           "2>/dev/null || true; fi\n")
    return code + tests + end


_INSTRUMENT = {"python": _python, "js": _js, "ts": _js, "php": _php, "cpp": _cpp, "java": _java, "cs": _cs,
               "sh": _sh}


def instrument(language: str, code: str, tests: str, markers: Markers) -> str:
    """The program to run: `code` (everything before the tests) + `tests` + the end-of-tests
    statement (and the begin token / hardening of the module docstring)."""
    return _INSTRUMENT[language](code, tests, markers)


# ----------------------------------------------------------------------------------------- judge
def _tail(text: str, n: int = 600) -> str:
    text = text.strip()
    return text if len(text) <= n else "…" + text[-n:]


def _last_line(text: str) -> str:
    lines = [x for x in text.strip().splitlines() if x.strip()]
    return lines[-1].strip() if lines else ""


def _syntax_error(language: str, r: StepResult) -> bool:
    err = r.stderr
    if language == "python":
        return r.exit_code == 1 and re.match(r"(SyntaxError|IndentationError|TabError)\b", _last_line(err)) is not None
    if language in ("js", "ts"):
        return r.exit_code == 1 and re.search(r"^SyntaxError\b", err, re.M) is not None
    if language == "php":
        return r.exit_code == 255 and re.search(r"^PHP (Parse|Fatal) error", err + "\n" + r.stdout, re.M) is not None
    return False


def _out_of_memory(language: str, r: StepResult) -> bool:
    err = r.stderr
    if language == "python":
        return r.exit_code == 1 and re.match(r"MemoryError\b", _last_line(err)) is not None
    if language == "cpp":
        return r.signal == signal.SIGABRT and "what():  std::bad_alloc" in err
    if language == "java":
        return r.exit_code not in (0, None) and (
            re.search(r"^Exception in thread \"\S+\" java\.lang\.OutOfMemoryError", err, re.M) is not None
            or "There is insufficient memory for the Java Runtime Environment" in err
            or "Could not reserve enough space" in err)
    if language in ("js", "ts"):
        return ("FATAL ERROR:" in err and "JavaScript heap out of memory" in err) or (
            r.exit_code == 1 and re.search(r"^RangeError: Array buffer allocation failed", err, re.M) is not None)
    if language == "php":
        return r.exit_code == 255 and re.search(r"^PHP Fatal error:  (Allowed memory size of \d+ bytes exhausted|"
                                                r"Out of memory)", err, re.M) is not None
    if language == "cs":
        return r.exit_code not in (0, None) and re.search(r"^\[ERROR\] FATAL UNHANDLED EXCEPTION: "
                                                          r"System\.OutOfMemoryException", err, re.M) is not None
    if language == "sh":
        return r.exit_code not in (0, None) and "xmalloc: cannot allocate" in err
    return False


def _assertion_failed(language: str, r: StepResult) -> bool:
    err = r.stderr
    if language == "python":
        return r.exit_code == 1 and re.match(r"AssertionError\b", _last_line(err)) is not None
    if language == "cpp":
        return r.signal == signal.SIGABRT and re.search(r": int main\(\): Assertion `.*' failed\.", err) is not None
    if language == "java":
        return r.exit_code == 1 and re.search(r"^Exception in thread \"main\" java\.lang\.AssertionError"
                                              r"(:.*)?\n\s+at Problem\.main\(", err, re.M) is not None
    if language in ("js", "ts"):
        return r.exit_code == 1 and re.search(r"^AssertionError \[ERR_ASSERTION\]", err, re.M) is not None
    if language == "php":
        return r.exit_code == 255 and "PHP Fatal error:  Uncaught Exception: Test failed!" in err
    if language == "cs":
        return r.exit_code not in (0, None) and "DscoderAssertionFailed: a test assertion failed" in err
    if language == "sh":
        return r.exit_code == 1  # `set -e` and a failed [[ test ]]: bash says nothing else
    return False


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def judge(language: str, steps: Sequence[StepResult], markers: Markers, limits: Optional[Limits] = None,
          timeout: Optional[float] = None) -> tuple[str, str]:
    """(status, reason) of one job under the strict protocol; `steps` as the sandbox ran them (a
    failed compile step is the last one)."""
    if not steps:
        return "harness_error", "nothing ran"
    r = steps[-1]
    if r.setup_error:
        return "harness_error", r.setup_error
    if r.name == "compile" and not r.ok:
        if r.timed_out:
            why = f"the compiler ran past its {timeout or 0:g}s deadline" if timeout else "the compiler timed out"
        elif r.memory_capped:
            why = "the compiler held more than the memory cap"
        else:
            why = f"the compiler failed (exit status {r.exit_code if r.signal is None else _signal_name(r.signal)})"
        return "compile_error", _tail(r.stdout + r.stderr) or why
    if r.memory_capped:
        cap = f"{limits.memory_bytes / MiB:.0f} MiB" if limits else "the memory cap"
        return "memory_limit", (f"its processes together held {r.peak_memory / MiB:.0f} MiB, over the memory cap "
                                f"of {cap}; killed before the tests completed")
    if r.timed_out:
        return "timeout", f"wall-clock timeout ({r.seconds:.1f}s) before the tests completed"
    if r.cpu_limited:
        return "timeout", (f"CPU time limit ({r.cpu_seconds:.1f}s of CPU, {_signal_name(r.signal)}) before the "
                           "tests completed")
    if r.output_capped:
        cap = f" of {limits.output_bytes / MiB:g} MiB" if limits else ""
        return "output_limit", f"stdout + stderr reached the output cap{cap} before the tests completed"
    if r.exit_code == 0:
        if markers.end in r.stdout:
            return "passed", ""
        return "incomplete", ("the tests did not complete: exit status 0 without the end-of-tests token (the "
                              "program ended before its last test ran, or closed its stdout)")
    if language in INTERPRETED and markers.begin not in r.stdout and _syntax_error(language, r):
        return "compile_error", _tail(r.stderr + ("\n" + r.stdout if language == "php" else ""))
    if _out_of_memory(language, r):
        return "memory_limit", _tail(r.stderr)
    if _assertion_failed(language, r):
        return "wrong_answer", _tail(r.stderr) or f"a test failed (exit status {r.exit_code})"
    if r.disk_full:
        cap = f" of {limits.disk_bytes / MiB:.0f} MiB" if limits else ""
        return "disk_limit", f"failed with its scratch space{cap} full: " + (_tail(r.stderr) or
                                                                             f"exit status {r.exit_code}")
    if r.signal == signal.SIGXFSZ:
        return "output_limit", "file size limit (SIGXFSZ) before the tests completed"
    if r.signal is not None:
        return "crash", (f"killed by {_signal_name(r.signal)}, not by a limit of the harness: the tests did not "
                         "complete" + (f"; {_tail(r.stderr)}" if r.stderr.strip() else ""))
    return "crash", _tail(r.stderr) or f"exit status {r.exit_code} before the tests completed"
