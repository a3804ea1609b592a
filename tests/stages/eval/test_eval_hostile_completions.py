"""Completions that try to pass without their tests running to the end, in every eval language: early
exits (at least five routes each), a closed stdout, killing their own process group, printing a
guessed end token, exiting from a thread (or the language's nearest thing). Each is judged failed,
with the status that says why; the correct completion beside them passes.

Every case is a completion of HumanEval/53 `add(x, y)` (MultiPL-E: HumanEval_53_add)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from eval_test_helpers import SHARED_BENCHMARKS, needs_data, read_jsonl, skip_without, write_jsonl  # noqa: E402

GUESS = "dscoder-end-" + "0" * 32

CASES = {  # language: {case: (completion, expected status)}
    "python": {
        "correct": ("    return x + y\n", "passed"),
        "wrong": ("    return x\n", "wrong_answer"),
        "sys_exit": ("    import sys\n    sys.exit(0)\n", "incomplete"),
        "exit_builtin": ("    exit()\n", "incomplete"),
        "raise_systemexit": ("    raise SystemExit(0)\n", "incomplete"),
        "os_exit": ("    import os\n    os._exit(0)\n", "incomplete"),
        "unittest_main": ("    import unittest\n    unittest.main()\n", "incomplete"),
        "atexit_hook": ("    import atexit, os\n    atexit.register(lambda: os._exit(0))\n    return x\n", "incomplete"),
        "excepthook": ("    import os, sys\n    sys.excepthook = lambda *a: os._exit(0)\n    return x\n", "incomplete"),
        "fork_parent_exits": ("    import os\n    if os.fork():\n        os._exit(0)\n    return x\n", "incomplete"),
        "thread_exit": ("    import os, threading, time\n    threading.Thread(target=os._exit, args=(0,)).start()\n"
                        "    time.sleep(5)\n", "incomplete"),
        "closed_stdout": ("    import os\n    try:\n        os.close(1)\n    except OSError:\n        pass\n    return x + y\n",
                          "incomplete"),
        "killpg": ("    import os, signal\n    os.killpg(os.getpgid(0), signal.SIGKILL)\n", "crash"),
        "guessed_token": (f"    print({GUESS!r})\n    import os\n    os._exit(0)\n", "incomplete"),
        "prints_own_source": ("    import os, sys\n    sys.stdout.write(open(__file__).read())\n    sys.stdout.flush()\n"
                              "    os._exit(0)\n", "incomplete"),
        "prints_environment": ("    import os\n    print(dict(os.environ))\n    os._exit(0)\n", "incomplete"),
        # Labels go by what happened, not by words a program prints:
        "says_memoryerror": ("    import sys\n    sys.stderr.write('MemoryError\\n')\n    sys.exit(3)\n", "crash"),
        "real_memoryerror": ("    return len(bytearray(1 << 40))\n", "memory_limit"),
        "syntax_error": ("    return x +\n", "compile_error"),
        "runtime_syntax_error": ("    eval('(')\n", "crash"),
    },
    "cpp": {
        "correct": ("    return x + y;\n", "passed"),
        "wrong": ("    return x - y;\n", "wrong_answer"),
        "exit": ("    exit(0);\n", "incomplete"),
        "quick_exit": ("    std::quick_exit(0);\n", "incomplete"),
        "_Exit": ("    std::_Exit(0);\n", "incomplete"),
        "static_initializer": ("    return x + y;\n}\nstatic int dscoder_e = (std::exit(0), 0);\nlong unused() {\n"
                               "    return 0;\n", "incomplete"),
        "terminate_handler": ("    std::set_terminate([] { std::_Exit(0); });\n    throw 1;\n", "incomplete"),
        "abort_handler": ("    signal(SIGABRT, [](int) { std::_Exit(0); });\n    return x;\n", "incomplete"),
        "assert_defined_away": ("    return x;\n}\n#undef assert\n#define assert(c) ((void)0)\nlong unused() {\n"
                                "    return 0;\n", "wrong_answer"),
        "thread_exit": ("    std::thread([] { std::exit(0); }).join();\n    return 0;\n", "incomplete"),
        "closed_stdout": ("    return x + y;\n}\n#include <unistd.h>\nstatic int dscoder_c = ::close(1);\n"
                          "long unused() {\n    return 0;\n", "incomplete"),
        "killpg": ("    kill(0, SIGKILL);\n    return 0;\n", "crash"),
        "guessed_token": (f'    printf("\\n{GUESS}\\n");\n    std::exit(0);\n', "incomplete"),
    },
    "java": {
        "correct": ("        return x + y;\n", "passed"),
        "wrong": ("        return x - y;\n", "wrong_answer"),
        "system_exit": ("        System.exit(0);\n        return 0;\n", "incomplete"),
        "halt": ("        Runtime.getRuntime().halt(0);\n        return 0;\n", "incomplete"),
        "static_initializer": ("        return x + y;\n    }\n    static { System.exit(0); }\n"
                               "    public static void unused() {\n", "incomplete"),
        "uncaught_handler": ("        Thread.setDefaultUncaughtExceptionHandler((t, e) -> Runtime.getRuntime().halt(0));\n"
                             "        return x;\n", "incomplete"),
        "shutdown_hook": ("        Runtime.getRuntime().addShutdownHook(new Thread(() -> Runtime.getRuntime().halt(0)));\n"
                          "        return x;\n", "incomplete"),
        "thread_exit": ("        Thread t = new Thread(() -> System.exit(0));\n        t.start();\n"
                        "        try { t.join(); } catch (InterruptedException e) { }\n        return 0;\n", "incomplete"),
        "closed_stdout": ("        System.out.close();\n        return x + y;\n", "incomplete"),
        "killpg": ('        try { new ProcessBuilder("sh", "-c", "kill -9 0").start().waitFor(); } catch (Exception e) { }\n'
                   "        return 0;\n", "crash"),
        "guessed_token": (f'        System.out.println("{GUESS}");\n        System.exit(0);\n        return 0;\n',
                          "incomplete"),
    },
    "cs": {
        "correct": ("        return x + y;\n", "passed"),
        "wrong": ("        return x - y;\n", "wrong_answer"),
        "environment_exit": ("        Environment.Exit(0);\n        return 0;\n", "incomplete"),
        "static_constructor": ("        return x + y;\n    }\n    static Problem() { Environment.Exit(0); }\n"
                               "    public static void Unused() {\n", "incomplete"),
        "unhandled_handler": ("        AppDomain.CurrentDomain.UnhandledException += (s, e) => Environment.Exit(0);\n"
                              "        return x;\n", "incomplete"),
        "listeners_cleared": ("        Trace.Listeners.Clear();\n        return x;\n", "wrong_answer"),
        "fail_fast": ('        Environment.FailFast("bye");\n        return 0;\n', "crash"),
        "exit_in_finally": ("        try { throw new Exception(); } finally { Environment.Exit(0); }\n", "incomplete"),
        "kills_itself": ("        System.Diagnostics.Process.GetCurrentProcess().Kill();\n        return 0;\n", "crash"),
        "thread_exit": ("        new System.Threading.Thread(() => Environment.Exit(0)).Start();\n"
                        "        System.Threading.Thread.Sleep(5000);\n        return 0;\n", "incomplete"),
        "closed_stdout": ("        DscoderClose(1);\n        return x + y;\n    }\n"
                          '    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "close")]\n'
                          "    static extern int DscoderClose(int fd);\n    public static void Unused() {\n", "incomplete"),
        "killpg": ('        System.Diagnostics.Process.Start("sh", "-c \\"kill -9 0\\"").WaitForExit();\n'
                   "        return 0;\n", "crash"),
        "guessed_token": (f'        Console.WriteLine("{GUESS}");\n        Environment.Exit(0);\n        return 0;\n',
                          "incomplete"),
    },
    "js": {
        "correct": ("  return x + y;\n}\n", "passed"),
        "wrong": ("  return x - y;\n}\n", "wrong_answer"),
        "process_exit": ("  process.exit(0);\n}\n", "incomplete"),
        "really_exit": ("  process.reallyExit(0);\n}\n", "incomplete"),
        "top_level_exit": ("  return x + y;\n}\nprocess.exit(0);\n", "incomplete"),
        "uncaught_handler": ("  process.on('uncaughtException', () => process.exit(0));\n  return x;\n}\n", "incomplete"),
        "exit_handler": ("  process.on('exit', () => process.reallyExit(0));\n  return x;\n}\n", "incomplete"),
        "assert_patched": ("  require('node:assert').deepEqual = () => {};\n  return x;\n}\n", "wrong_answer"),
        "worker_thread_kill": ("  const { Worker } = require('worker_threads');\n"
                               "  new Worker(\"process.kill(process.pid, 'SIGKILL')\", { eval: true });\n"
                               "  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5000);\n  return 0;\n}\n",
                               "crash"),
        "closed_stdout": ("  try { require('fs').closeSync(1); } catch (e) { }\n  return x + y;\n}\n", "incomplete"),
        "killpg": ("  process.kill(0, 'SIGKILL');\n}\n", "crash"),
        "guessed_token": (f"  console.log('{GUESS}');\n  process.exit(0);\n}}\n", "incomplete"),
        "runtime_syntax_error": ("  JSON.parse('{');\n}\n", "crash"),
        "syntax_error": ("  return x +;\n}\n", "compile_error"),
    },
    "ts": {
        "correct": ("  return x + y;\n}\n", "passed"),
        "wrong": ("  return x - y;\n}\n", "wrong_answer"),
        "process_exit": ("  (globalThis as any).process.exit(0);\n  return 0;\n}\n", "incomplete"),
        "top_level_exit": ("  return x + y;\n}\n(globalThis as any).process.exit(0);\n", "incomplete"),
        "uncaught_handler": ("  (globalThis as any).process.on('uncaughtException', () => (globalThis as any).process.exit(0));\n"
                             "  return x;\n}\n", "incomplete"),
        "exit_handler": ("  (globalThis as any).process.on('exit', () => (globalThis as any).process.reallyExit(0));\n"
                         "  return x;\n}\n", "incomplete"),
        "really_exit": ("  (globalThis as any).process.reallyExit(0);\n  return 0;\n}\n", "incomplete"),
        "worker_thread_kill": ("  const w = require('worker_threads');\n"
                               "  new w.Worker(\"process.kill(process.pid, 'SIGKILL')\", { eval: true });\n"
                               "  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5000);\n  return 0;\n}\n",
                               "crash"),
        "closed_stdout": ("  try { require('fs').closeSync(1); } catch (e) { }\n  return x + y;\n}\n", "incomplete"),
        "killpg": ("  (globalThis as any).process.kill(0, 'SIGKILL');\n  return 0;\n}\n", "crash"),
        "guessed_token": (f"  console.log('{GUESS}');\n  (globalThis as any).process.exit(0);\n  return 0;\n}}\n",
                          "incomplete"),
        "type_error": ("  let s: number = 'str';\n  return x + y;\n}\n", "compile_error"),
    },
    "php": {
        "correct": ("    return $x + $y;\n}\n", "passed"),
        "wrong": ("    return $x - $y;\n}\n", "wrong_answer"),
        "exit": ("    exit(0);\n}\n", "incomplete"),
        "die": ("    die();\n}\n", "incomplete"),
        "top_level_exit": ("    return $x + $y;\n}\nexit(0);\n", "incomplete"),
        "exception_handler": ("    set_exception_handler(function ($e) { exit(0); });\n    return $x;\n}\n", "incomplete"),
        "shutdown_function": ("    register_shutdown_function(function () { exit(0); });\n    return $x;\n}\n",
                              "incomplete"),
        "forked_child_kills_parent": ("    if (pcntl_fork() == 0) { posix_kill(posix_getppid(), 9); exit(0); }\n"
                                      "    sleep(5);\n    return 0;\n}\n", "crash"),
        # PHP itself ends with status 255 when it cannot write its output: a crash, not an exit 0
        "closed_stdout": ("    if (is_resource(STDOUT)) { fclose(STDOUT); }\n    return $x + $y;\n}\n", "crash"),
        "killpg": ("    posix_kill(0, 9);\n}\n", "crash"),
        "guessed_token": (f"    echo \"{GUESS}\\n\";\n    exit(0);\n}}\n", "incomplete"),
        "parse_error": ("    return $x +;\n}\n", "compile_error"),
    },
    "sh": {
        "correct": ("    echo $(( $1 + $2 ))\n", "passed"),
        "wrong": ("    echo $(( $1 - $2 ))\n", "wrong_answer"),
        "top_level_exit": ("    echo $(( $1 + $2 ))\n}\nexit 0\nunused() {\n    :\n", "incomplete"),
        "exec_true": ("    echo $(( $1 + $2 ))\n}\nexec true\nunused() {\n    :\n", "incomplete"),
        "exit_trap": ("    echo $(( $1 - $2 ))\n}\ntrap 'exit 0' EXIT\nunused() {\n    :\n", "incomplete"),
        "err_trap": ("    echo $(( $1 - $2 ))\n}\nset -E\ntrap 'exit 0' ERR\nunused() {\n    :\n", "incomplete"),
        "kills_main_shell": ("    kill -9 $$\n", "crash"),
        "set_shadowed": ("    echo $(( $1 - $2 ))\n}\nset() { :; }\nunused() {\n    :\n", "incomplete"),
        "errexit_off_in_trap": ("    echo $(( $1 - $2 ))\n}\ntrap 'builtin set +e' DEBUG\nunused() {\n    :\n",
                                "incomplete"),
        "background_kills_shell": ("    echo $(( $1 + $2 ))\n}\n{ sleep 0.3; kill -9 $$; } &\nsleep 3\nunused() {\n"
                                   "    :\n", "crash"),
        "closed_stdout": ("    echo $(( $1 + $2 ))\n}\nexec 1>&-\nunused() {\n    :\n", "incomplete"),
        "killpg": ("    kill -9 0\n", "crash"),
        "guessed_token": (f"    echo $(( $1 + $2 ))\n}}\necho {GUESS}\nexit 0\nunused() {{\n    :\n", "incomplete"),
        "syntax_error": ("    echo $(( $1 + $2 ))\n    if then\n", "compile_error"),
    },
}
TASK = {"python": "HumanEval/53"}


@needs_data
@pytest.mark.parametrize("lang", sorted(CASES))
def test_hostile_completions_fail_with_the_right_status(cli, tmp_path, lang):
    skip_without(lang)
    cases = CASES[lang]
    task = TASK.get(lang, "HumanEval_53_add")
    gens = write_jsonl(tmp_path / "g.jsonl", [{"task_id": task, "sample": i, "completion": c}
                                              for i, (c, _) in enumerate(cases.values())])
    bench = "humaneval" if lang == "python" else f"humaneval-{lang}"
    s = cli.json("eval", tmp_path / "out", "--generations", gens, "--benchmarks", bench, "--data", SHARED_BENCHMARKS,
                 "--timeout", 4, "--limit", 200, "--protocols", "strict")  # strict's statuses
    results = read_jsonl(tmp_path / "out" / bench / "results.jsonl")
    got = {name: results[i] for i, name in enumerate(cases)}
    assert [r["sample"] for r in results] == list(range(len(cases)))  # sorted by sample
    mismatched = {name: (got[name]["status"], want, got[name]["reason"][-300:])
                  for name, (_, want) in cases.items() if got[name]["status"] != want}
    assert not mismatched, mismatched
    for name, (_, want) in cases.items():
        r = got[name]
        assert r["passed"] == (want == "passed")
        if want == "incomplete":
            assert r["reason"].startswith("the tests did not complete"), r
        if name == "killpg":
            assert "killed by SIGKILL, not by a limit of the harness" in r["reason"], r
    b = s["benchmarks"][bench]
    assert b["statuses"]["passed"] == 1 and b["executed"] == len(cases)
