"""`dscoder status`."""

from __future__ import annotations

from pathlib import Path

import typer

from ..app import app
from ..common import JSON_OUT, fail
from stages.core.errors import DscoderError
from ..summary import print_json

@app.command()
def status(
    output: Path = typer.Argument(..., help="A stage's output folder."),
    as_json: bool = JSON_OUT,
    refresh: bool = typer.Option(False, help="Also rewrite stats.json and errors.jsonl from the "
                                 "done-markers (what a Slurm array's stats job does)."),
) -> None:
    """Show a stage output's stage, options, shards done / total and rows in / kept / rejected."""
    from ..status import describe

    try:
        info = describe(output, refresh=refresh)
    except DscoderError as exc:
        fail(exc)
    if as_json:
        print_json(info)
    else:
        from ..status import print_status
        print_status(info)
