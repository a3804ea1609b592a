"""The strict verdict, branch by branch (stages/eval/verdicts.py): each label from the facts that decide
it, and the end-of-tests statement placed after the tests of every task of every language."""

import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from eval_test_helpers import SHARED_BENCHMARKS, needs_data  # noqa: E402

from stages.eval.sandbox import MiB, Limits, StepResult  # noqa: E402
from stages.eval.verdicts import CS_ASSERT as CS_ASSERT_TEXT  # noqa: E402
from stages.eval.verdicts import STATUSES, Markers, instrument, judge  # noqa: E402

M = Markers(begin="dscoder-begin-1234", end="dscoder-end-5678")
RUN = dict(name="run")
PY_TRACE = 'Traceback (most recent call last):\n  File "/work/prog.py", line 3, in <module>\n'

CASES = [  # (language, steps as StepResult kwargs, status, a piece of the reason)
    ("python", [dict(name="setup", setup_error="OSError: mount failed")], "harness_error", "mount failed"),
    ("cpp", [dict(name="compile", exit_code=1, stderr="prog.cpp:3: error: expected ';'")], "compile_error",
     "expected ';'"),
    ("java", [dict(name="compile", timed_out=True, signal=9)], "compile_error", "deadline"),
    ("python", [dict(RUN, memory_capped=True, peak_memory=300 * MiB, signal=9)], "memory_limit",
     "held 300 MiB, over the memory cap of 256 MiB"),
    ("python", [dict(RUN, timed_out=True, signal=9, seconds=3.0)], "timeout", "wall-clock timeout"),
    ("python", [dict(RUN, cpu_limited=True, signal=signal.SIGXCPU, cpu_seconds=4.0)], "timeout", "CPU time limit"),
    ("python", [dict(RUN, signal=signal.SIGKILL, cpu_seconds=0.01)], "crash",
     "killed by SIGKILL, not by a limit of the harness"),
    ("python", [dict(RUN, signal=signal.SIGXCPU, cpu_seconds=0.01)], "crash", "killed by SIGXCPU"),
    ("python", [dict(RUN, output_capped=True, exit_code=0, stdout=M.end)], "output_limit", "output cap"),
    ("python", [dict(RUN, exit_code=0, stdout=f"{M.begin}\n\n{M.end}\n")], "passed", ""),
    ("cpp", [dict(name="compile", exit_code=0), dict(RUN, exit_code=0, stdout=f"\n{M.end}\n")], "passed", ""),
    ("python", [dict(RUN, exit_code=0, stdout=f"{M.begin}\n")], "incomplete", "the tests did not complete"),
    ("python", [dict(RUN, exit_code=0, stdout=f"{M.begin}\ndscoder-end-0000\n")], "incomplete", "end-of-tests token"),
    ("python", [dict(RUN, exit_code=1, stderr=PY_TRACE + "MemoryError\n")], "memory_limit", "MemoryError"),
    ("python", [dict(RUN, exit_code=3, stderr="MemoryError\n")], "crash", "MemoryError"),
    ("python", [dict(RUN, exit_code=1, stderr="MemoryError\n" + PY_TRACE + "ValueError: x\n")], "crash", "ValueError"),
    ("python", [dict(RUN, exit_code=1, stderr='  File "/work/prog.py", line 9\nSyntaxError: invalid syntax\n')],
     "compile_error", "SyntaxError"),
    ("python", [dict(RUN, exit_code=1, stdout=M.begin, stderr=PY_TRACE + "SyntaxError: '(' was never closed\n")],
     "crash", "SyntaxError"),
    ("python", [dict(RUN, exit_code=1, stderr=PY_TRACE + "AssertionError\n")], "wrong_answer", "AssertionError"),
    ("python", [dict(RUN, exit_code=2, stderr=PY_TRACE + "AssertionError\n")], "crash", "AssertionError"),
    ("cpp", [dict(name="compile", exit_code=0), dict(RUN, signal=signal.SIGABRT,
                                                     stderr="prog: prog.cpp:30: int main(): Assertion `x' failed.")],
     "wrong_answer", "Assertion"),
    ("cpp", [dict(name="compile", exit_code=0), dict(RUN, signal=signal.SIGABRT, stderr="terminate called after "
                                                     "throwing an instance of 'std::bad_alloc'\n  what():  std::bad_alloc")],
     "memory_limit", "bad_alloc"),
    ("java", [dict(name="compile", exit_code=0), dict(RUN, exit_code=1, stderr='Exception in thread "main" '
                                                      "java.lang.AssertionError\n\tat Problem.main(Problem.java:40)\n")],
     "wrong_answer", "AssertionError"),
    ("java", [dict(name="compile", exit_code=0), dict(RUN, exit_code=1, stderr='Exception in thread "main" '
                                                      "java.lang.OutOfMemoryError: Java heap space\n")],
     "memory_limit", "OutOfMemoryError"),
    ("js", [dict(RUN, exit_code=1, stdout=M.begin, stderr="AssertionError [ERR_ASSERTION]: 1 == 2\n")],
     "wrong_answer", "ERR_ASSERTION"),
    ("js", [dict(RUN, exit_code=1, stderr="/work/prog.js:3\n  return x +;\n\nSyntaxError: Unexpected token ';'\n")],
     "compile_error", "SyntaxError"),
    ("php", [dict(RUN, exit_code=255, stdout=M.begin, stderr="PHP Fatal error:  Uncaught Exception: Test failed! in")],
     "wrong_answer", "Test failed!"),
    ("php", [dict(RUN, exit_code=255, stderr="PHP Parse error:  syntax error, unexpected token \";\"")],
     "compile_error", "Parse error"),
    ("cs", [dict(name="compile", exit_code=0), dict(RUN, exit_code=1, stderr="Unhandled Exception:\n"
                                                    "DscoderAssertionFailed: a test assertion failed\n")],
     "wrong_answer", "assertion failed"),
    ("sh", [dict(name="compile", exit_code=0), dict(RUN, exit_code=1)], "wrong_answer", "a test failed"),
    ("sh", [dict(name="compile", exit_code=0), dict(RUN, exit_code=127, stderr="foo: command not found")], "crash",
     "command not found"),
    ("python", [dict(RUN, exit_code=1, disk_full=True, stderr=PY_TRACE + "OSError: [Errno 28] No space left\n")],
     "disk_limit", "scratch space of 64 MiB full"),
    ("cpp", [dict(name="compile", exit_code=0), dict(RUN, signal=signal.SIGXFSZ)], "output_limit", "SIGXFSZ"),
    ("python", [dict(RUN, exit_code=1, stderr=PY_TRACE + "ValueError: boom\n")], "crash", "ValueError: boom"),
]


@pytest.mark.parametrize("language,steps,status,reason", CASES, ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(CASES)])
def test_judge(language, steps, status, reason):
    got, why = judge(language, [StepResult(**s) for s in steps], M, Limits(memory_bytes=256 * MiB, processes=64, disk_bytes=64 * MiB),
                     timeout=3.0)
    assert (got, reason in why) == (status, True), why


def test_every_label_is_reached():
    assert {c[2] for c in CASES} == set(STATUSES)


@needs_data
@pytest.mark.parametrize("lang", ["cpp", "java", "js", "ts", "php", "cs", "sh"])
def test_end_statement_follows_the_tests_of_every_task(lang):
    """For every task of the language: the end-of-tests statement comes after the last test, inside
    main where there is one, and nothing of the tests is lost."""
    from stages.eval.benchmarks import load_benchmark
    from stages.eval.programs import program_parts
    bench = load_benchmark(f"humaneval-{lang}", SHARED_BENCHMARKS)
    last_test = {"cpp": "assert(", "java": "assert(", "cs": "DscoderAssertionFailed.Check(", "js": "test();",
                 "ts": "test();", "php": "test();", "sh": "run_test"}[lang]
    for task in bench.tasks:
        code, tests = program_parts(bench, task, "")
        program = instrument(lang, code, tests, M)
        end = program.index("/dev/fd/3" if lang in ("cpp", "java", "cs") else "fd/3" if lang == "php" else
                            "readFileSync(3" if lang in ("js", "ts") else "<&3")
        assert program.rindex(last_test) < end, task.task_id
        if lang in ("cpp", "java", "cs"):  # inside main: only closing braces (and C#'s assert class) after it
            rest = program[end:].split("\n", 1)[1]
            assert rest.replace(CS_ASSERT_TEXT, "").strip().strip("}").strip() == "", (task.task_id, rest)
        if lang == "cs":
            assert "Debug.Assert(" not in program
        if lang == "php":
            assert program.endswith("?>") and program.count("?>") == 1


def test_python_begin_and_end():
    program = instrument("python", "def f():\n    return 1\n", "assert f() == 1\n", M)
    assert program.startswith(f'__import__("os").write(1, b"{M.begin}\\n")\n')
    assert program.index("assert f() == 1") < program.index("os\").read(3, 256)")
    assert M.end not in program  # the end token is never in the program's text
    future = instrument("python", "from __future__ import annotations\n", "", M)
    assert future.startswith("from __future__")  # it must stay first: no begin token then


def test_an_unassemblable_program_is_a_harness_error():
    from stages.eval.execute import Job, run_job
    job = Job(("t", 0), "java", "class Problem {\n", "no braces at all", 3.0)
    res = run_job(job, sandbox=None)
    assert res["status"] == "harness_error" and "closing brace of main" in res["reason"]
