"""`dscoder dedup`."""

from __future__ import annotations

from pathlib import Path

import typer

from stages.dedup.config import PHASES, DedupConfig

from ..app import command
from ..common import JSON_OUT, execute, run_options
from ..options import config_options


@command("dedup")
@config_options(DedupConfig, dest="settings", exclude=("input", "output"))
@run_options
def dedup(
    input: Path = typer.Argument(..., help="Folder of `samples` shards (topo-sort output)."),
    output: Path = typer.Argument(..., help="Output folder for the kept samples."),
    phase: str = typer.Option("all", help=f"Phase to run: all (every phase, one machine), {', '.join(PHASES)}. "
                              "With --rank/--world-size a phase runs its share."),
    as_json: bool = JSON_OUT, settings: dict = None, run: dict = None,
) -> None:
    """Remove exact and near-duplicate samples (§2.3: MinHash + LSH, repository-level samples)."""
    from stages.dedup.stage import run as run_dedup

    config = DedupConfig(input=input, output=output, **settings)
    execute(None, output, run, as_json, driver=lambda options: run_dedup(config, options, phase=phase))
