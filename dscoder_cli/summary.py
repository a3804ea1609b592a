"""The end-of-run summary: a table on a terminal, plain lines in a log, JSON with --json."""

from __future__ import annotations

import json
import sys

from rich.console import Console
from rich.table import Table


def print_json(summary: dict) -> None:
    print(json.dumps(summary, indent=2, sort_keys=True, default=str))


def print_summary(summary: dict, console: Console | None = None) -> None:
    console = console or Console(file=sys.stdout)
    stage = summary.get("stage")
    table = Table(title=f"dscoder {stage}: {summary.get('output', '')}", show_header=True)
    table.add_column("")
    table.add_column("value", justify="right")
    rows = [
        ("shards done / total", f"{summary['shards_done']} / {summary['shards_total']}"),
        ("rows in", f"{summary['rows_in']:,}"),
        ("rows kept", f"{summary['rows_kept']:,}"),
        ("rows rejected", f"{summary['rows_rejected']:,}"),
        *([("rows out", f"{summary['rows_out']:,}")] if summary.get("rows_out", summary["rows_kept"])
          != summary["rows_kept"] else []),
        ("MB in", f"{summary['bytes_in'] / 1e6:,.1f}"),
        ("MB out (Parquet)", f"{summary['bytes_out'] / 1e6:,.1f}"),
        ("errors", f"{summary['errors']:,}"),
    ]
    if summary.get("shards_failed"):
        rows.append(("shards failed", ", ".join(summary["shards_failed"][:8])))
    for name, value in summary.get("counters", {}).items():
        rows.append((f"  {name}", f"{value:,}"))
    this_run = summary.get("this_run")
    if this_run:
        rows.append(("this run", f"{this_run['shards_done']} shards in {this_run['seconds']:.1f}s"
                     + (f", {this_run['shards_skipped']} already done" if this_run["shards_skipped"] else "")))
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)
    if summary.get("errors"):
        console.print(f"errors listed in {summary.get('output')}/_dscoder/errors.jsonl")
