"""What every stage command shares: the runtime options of DESIGN.md section 3 and how a run is
executed and reported."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from stages.core.errors import DscoderError, UsageError
from stages.core.progress import default_reporter
from stages.core.runner import RunOptions, StrictFailure, run_stage
from .summary import print_json, print_summary

# Options every data stage shares (DESIGN.md section 3).
WORKERS = typer.Option(1, "--workers", "-w", min=1, help="Processes on this machine.")
RANK = typer.Option(None, "--rank", min=0, help="This task's rank [default: $SLURM_ARRAY_TASK_ID or 0].")
WORLD = typer.Option(None, "--world-size", min=1,
                     help="Number of tasks sharing the shards [default: $SLURM_ARRAY_TASK_COUNT or 1].")
OVERWRITE = typer.Option(False, "--overwrite", help="Delete OUTPUT and start over.")
STRICT = typer.Option(False, "--strict", help="Exit 1 if any shard failed or any error was reported.")
JSON_OUT = typer.Option(False, "--json", help="Print the summary as JSON on stdout.")


def execute(stage, output: Path, workers, rank, world_size, overwrite, strict, as_json,
            prepare_only: bool = False, run=None) -> None:
    """Run `stage` and print its summary; `run(options) -> summary` replaces `run_stage(stage, ·)`
    for a command that drives the runner itself (dedup's phases)."""
    options = RunOptions(output=output, workers=workers, rank=rank, world_size=world_size,
                         overwrite=overwrite, strict=strict, reporter=default_reporter(), prepare_only=prepare_only)
    try:
        summary = run(options) if run is not None else run_stage(stage, options)
    except StrictFailure as exc:
        (print_json if as_json else print_summary)(exc.summary)
        fail(exc)
    except DscoderError as exc:
        fail(exc)
    (print_json if as_json else print_summary)(summary)


def fail(exc: DscoderError):
    print(f"dscoder: error: {exc}", file=sys.stderr)
    raise typer.Exit(exc.exit_code)


def guard(build):
    """Build a stage config; a ValueError/UsageError from options is a usage error (exit 2)."""
    try:
        return build()
    except (ValueError, UsageError) as exc:
        print(f"dscoder: error: {exc}", file=sys.stderr)
        raise typer.Exit(2)
