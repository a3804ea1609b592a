"""What every data-stage command shares: the runner's options (built from `RunOptions`), `--json`,
and how a run is executed and its summary printed."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Callable

import typer

from stages.core.errors import DscoderError
from stages.core.runner import RunFailure, RunOptions, run_stage

from .errors import describe, fail
from .options import config_options
from .progress import default_reporter
from .summary import print_json, print_summary

JSON_OUT = typer.Option(False, "--json", help="Print the summary as JSON on stdout.")


def run_options(fn: Callable) -> Callable:
    """Add --workers, --rank, --world-size, --overwrite, --allow-partial, --keep-going, --strict
    (RunOptions' fields) as `run`."""
    return config_options(RunOptions, dest="run", exclude=("output",))(fn)


def command_line() -> str | None:
    """This process's `dscoder …` command line (recorded in the manifest: the command that resumes
    or completes an output), when it was started as `dscoder` or `python -m dscoder_cli`."""
    prog = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if prog is None or not (prog.name == "dscoder" or prog.parent.name == "dscoder_cli"):
        return None
    return shlex.join(["dscoder", *sys.argv[1:]])


def execute(stage, output: Path, run: dict, as_json: bool, prepare_only: bool = False,
            driver: Callable[[RunOptions], dict] | None = None) -> None:
    """Run `stage` into `output` and print its summary; `driver(options) -> summary` replaces
    `run_stage(stage, ·)` for a stage that drives the runner itself (dedup's phases)."""
    options = RunOptions(output=output, reporter=default_reporter(), prepare_only=prepare_only,
                         command=command_line(), **run)
    show = print_json if as_json else print_summary
    try:
        summary = driver(options) if driver is not None else run_stage(stage, options)
    except RunFailure as exc:
        show(exc.summary)
        fail(describe(exc), exc.exit_code)
    except DscoderError as exc:
        fail(describe(exc), exc.exit_code)
    show(summary)
