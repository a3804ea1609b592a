"""From an exception to a one-line error and an exit code: the only place the CLI decides them.

    0 success · 1 failure (DscoderError, an OSError such as a full disk) · 2 usage error (UsageError)

Anything else is a bug in dscoder and keeps its traceback.
"""

from __future__ import annotations

import functools
import sys
from typing import Callable, NoReturn

import typer

from stages.core.errors import DscoderError, is_write_error, output_write_error


def fail(message: str | BaseException, code: int = 1) -> NoReturn:
    """Print `dscoder: error: …` on stderr and exit with `code`."""
    print(f"dscoder: error: {message}", file=sys.stderr, flush=True)
    raise typer.Exit(code)


def usage_error(message: str) -> NoReturn:
    fail(message, 2)


def exit_code(exc: BaseException) -> int | None:
    """The exit code an exception stands for, or None for one that is a bug."""
    if isinstance(exc, DscoderError):
        return exc.exit_code
    if isinstance(exc, OSError):
        return 1
    return None


def describe(exc: BaseException) -> str:
    if is_write_error(exc):  # disk full, quota, read-only: name the file and what to do
        return str(output_write_error(exc.filename or "OUTPUT", exc))
    if isinstance(exc, OSError) and not isinstance(exc, DscoderError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return str(exc)


def reported(fn: Callable) -> Callable:
    """Wrap a command: a DscoderError or OSError becomes `dscoder: error: …` and its exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (DscoderError, OSError) as exc:
            fail(describe(exc), exit_code(exc))

    return wrapper
