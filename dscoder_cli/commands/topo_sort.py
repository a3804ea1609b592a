"""`dscoder topo-sort`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..app import app
from ..common import JSON_OUT, OVERWRITE, RANK, STRICT, WORKERS, WORLD, execute, guard


@app.command("topo-sort")
def topo_sort(
    input: Path = typer.Argument(..., help="Folder of `files` shards (filter or crawl output)."),
    output: Path = typer.Argument(..., help="Output folder for `samples` shards."),
    scope: str = typer.Option("Python,Java,C#,C,C++", help="Languages whose files are concatenated "
                              "per dependency component (the paper's five); others stay one file per sample."),
    seed: int = typer.Option(0, help="Seed of the tie-breaks between files of equal in-degree."),
    workers: int = WORKERS, rank: Optional[int] = RANK, world_size: Optional[int] = WORLD,
    overwrite: bool = OVERWRITE, strict: bool = STRICT, as_json: bool = JSON_OUT,
) -> None:
    """Order each repository's files by their dependencies (§2.2, Algorithm 1) into repository-level samples."""
    from stages.core.languages import resolve_languages
    from stages.topo_sort.stage import TopoSortConfig, TopoSortStage

    def build():
        langs = tuple(sorted(resolve_languages([s for s in scope.split(",") if s.strip()])))
        return TopoSortStage(TopoSortConfig(input=input, scope=langs, seed=seed))

    execute(guard(build), output, workers, rank, world_size, overwrite, strict, as_json)
