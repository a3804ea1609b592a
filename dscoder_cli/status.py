"""`dscoder status DIR`: what an output folder holds, from its `_dscoder/` metadata alone."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from stages.core.errors import UsageError
from stages.core.manifest import OutputLayout, merge_stats
from stages.core.runner import finalize
from .summary import files_by_language, print_summary


def describe(output: Path, refresh: bool = False) -> dict:
    """A data stage's output (its `_dscoder/` metadata), a training run, an eval output, or a
    pipeline folder holding several of them (each described)."""
    output = Path(output)
    layout = OutputLayout(output)
    manifest = layout.read_manifest()
    if manifest is None:
        from .run_status import describe_other
        info = describe_other(output, lambda sub: describe(sub, refresh))
        if info is None:
            raise UsageError(f"{output} is not a dscoder output folder (no _dscoder/manifest.json, no training "
                             "config.yaml, no eval summary.json, no such folders inside)")
        return info
    if refresh:
        finalize(layout)
    states = layout.unit_states(manifest)  # a marker counts only with its files there
    stats = merge_stats(manifest, states.done, states.failed)
    return {**stats, "output": str(layout.root), "dscoder_version": manifest.get("dscoder_version"),
            "options": manifest["options"], "command": manifest.get("command"),
            "shards_pending": states.pending, "shards_missing_output": states.missing_output,
            "markers_unreadable": states.corrupt, "complete": states.complete,
            "files_by_language": files_by_language(stats["counters"])}


def print_status(info: dict) -> None:
    if info.get("kind") in ("training", "eval", "pipeline"):
        from .run_status import print_other
        print_other(info, print_status)
        return
    console = Console()
    console.print(f"[bold]{info['stage']}[/bold] output {info['output']} "
                  f"(dscoder {info['dscoder_version']}) — "
                  + ("[green]complete[/green]" if info["complete"] else
                     f"[yellow]{len(info['shards_pending'])} shards pending[/yellow]"), soft_wrap=True)
    for unit, files in info["shards_missing_output"].items():
        console.print(f"{unit}: done-marker without its files ({', '.join(files)}); the next run redoes it",
                      soft_wrap=True, markup=False)
    for unit in info["markers_unreadable"]:
        console.print(f"{unit}: unreadable done-marker; the next run redoes it", soft_wrap=True, markup=False)
    console.print("options: " + json.dumps(info["options"], sort_keys=True), soft_wrap=True, markup=False)
    print_summary(info, console)
