"""The `dscoder` command: a thin mapping from options to each stage's config (no logic here)."""

from __future__ import annotations

import os

import typer

from . import __version__

app = typer.Typer(
    help="The DeepSeek-Coder recipe (arXiv 2401.14196) as one toolchain. "
         "Every stage is `dscoder STAGE INPUT OUTPUT [options]` and can be resumed by re-running it.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    rich_markup_mode=None)  # help texts are plain: `[default: …]` must not be read as rich markup


def _version(value: bool) -> None:
    if value:
        print(f"dscoder {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    pass


def command(name: str | None = None, **kwargs):
    """Register a command on `app`; its DscoderError/OSError become one line and an exit code
    (dscoder_cli/errors.py)."""
    from .errors import reported

    def decorate(fn):
        return app.command(name, **kwargs)(reported(fn))

    return decorate


def main() -> None:
    # Broken pipes (`dscoder status X | head`) should not print a traceback.
    try:
        app()
    except BrokenPipeError:
        os._exit(0)
    except SystemExit as exc:  # typer's standalone mode ends every command with one
        _exit_now(exc.code)
    _exit_now(0)


def _exit_now(code) -> None:
    """Exit as `sys.exit(code)` does, without the interpreter's teardown of every module: it took
    0.25-0.3 s per command (numpy, pyarrow, pandas), a fixed cost in every stage's wall time, which
    bounded `--workers` speed-ups on short runs (issue #18). Everything a command writes is closed
    (and fsynced) by then; atexit handlers and the standard streams still run and flush. A thread
    still running (a checkpoint writer, say) gets the normal exit, which waits for it."""
    import atexit
    import sys
    import threading

    if threading.active_count() > 1:
        sys.exit(code)
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken pipe: nothing more to say
            pass
    os._exit(code)


# Each stage's command lives in dscoder_cli/commands/<stage>.py and registers itself on `app` when
# imported; this order is the pipeline's, which is the order `dscoder --help` lists them in.
COMMAND_ORDER = ["crawl", "filter", "topo_sort", "dedup", "tokenize", "pretrain", "extend_context",
                 "instruct", "export_hf", "eval", "report", "submit", "status"]


def _register_commands() -> None:
    import importlib
    import pkgutil

    from . import commands
    present = {m.name for m in pkgutil.iter_modules(commands.__path__)}
    for name in COMMAND_ORDER + sorted(present - set(COMMAND_ORDER)):
        if name in present:
            importlib.import_module(f"{commands.__name__}.{name}")


_register_commands()
