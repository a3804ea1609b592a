"""`dscoder status`."""

from __future__ import annotations

from pathlib import Path

import typer

from ..app import command
from ..common import JSON_OUT
from ..summary import print_json


@command()
def status(
    output: Path = typer.Argument(..., help="A stage's output folder."),
    as_json: bool = JSON_OUT,
    refresh: bool = typer.Option(False, help="Also rewrite stats.json and errors.jsonl from the "
                                 "done-markers (what a Slurm array's stats job does)."),
) -> None:
    """Show a stage output's stage, options, shards done / total and rows in / kept / rejected."""
    from ..status import describe

    info = describe(output, refresh=refresh)
    if as_json:
        print_json(info)
    else:
        from ..status import print_status
        print_status(info)
