"""`dscoder topo-sort`: options from stages/topo_sort/config.py."""

from __future__ import annotations

from pathlib import Path

import typer

from stages.topo_sort.config import TopoSortConfig

from ..app import command
from ..common import JSON_OUT, execute, run_options
from ..options import config_options


@command("topo-sort")
@config_options(TopoSortConfig, dest="settings", exclude=("input",))
@run_options
def topo_sort(
    input: Path = typer.Argument(..., help="Folder of `files` shards (filter or crawl output)."),
    output: Path = typer.Argument(..., help="Output folder for `samples` shards."),
    as_json: bool = JSON_OUT, settings: dict = None, run: dict = None,
) -> None:
    """Order each repository's files by their dependencies (§2.2, Algorithm 1) into repository-level samples."""
    from stages.topo_sort.stage import TopoSortStage

    execute(TopoSortStage(TopoSortConfig(input=input, **settings)), output, run, as_json)
