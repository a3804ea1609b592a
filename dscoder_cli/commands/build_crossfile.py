"""`dscoder build-crossfile`: options from stages/eval/config.py (CrossfileConfig)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from stages.eval.config import CrossfileConfig

from ..app import command
from ..common import JSON_OUT
from ..options import config_options
from ..summary import print_json


def _print_table(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"dscoder build-crossfile: {summary['output']}")
    for col in ("language", "candidate lines", "duplicates", "contaminated", "tasks"):
        table.add_column(col, justify="left" if col == "language" else "right")
    for lang, c in summary["languages"].items():
        table.add_row(lang, *(f"{c[k]:,}" for k in ("candidates", "duplicates", "contaminated", "tasks")))
    console = Console(file=sys.stdout)
    console.print(table)
    console.print(f"{summary['repos']} repositories, {summary['files']:,} files, {summary['seconds']:.1f}s",
                  markup=False, highlight=False)
    for e in summary["errors"][:10]:
        console.print(f"error: {e['item']}: {e['error']}", markup=False, highlight=False)


@command("build-crossfile")
@config_options(CrossfileConfig, dest="settings", exclude=("source", "output"))
def build_crossfile(
    source: str = typer.Argument(..., help="Held-out repositories: any crawl SOURCE (a folder of repositories, "
                                           "a git repository, a list file, a git URL, github:QUERY) or a dscoder "
                                           "files output."),
    output: Path = typer.Argument(..., help="Folder for <language>/line_completion_*.jsonl, summary.json."),
    as_json: bool = JSON_OUT, settings: dict = None,
) -> None:
    """Build a cross-file completion benchmark in CrossCodeEval's layout from repositories kept out of
    training (the paper's RQ1; evaluate it with `dscoder eval --benchmarks crosscodeeval`)."""
    from stages.eval.crossfile_build import build_crossfile as build

    summary = build(CrossfileConfig(source=source, output=output, **settings))
    (print_json if as_json else _print_table)(summary)
