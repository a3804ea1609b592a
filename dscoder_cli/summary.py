"""The end-of-run summary: a table on a terminal, plain lines in a log, JSON with --json."""

from __future__ import annotations

import json
import sys

from rich.console import Console
from rich.table import Table


FILES_BY_LANGUAGE = "files:"  # counters files:<lang>: each file in its own language, inside samples too


def files_by_language(counters: dict) -> dict[str, int]:
    """The files:<lang> counters as {language: files}, most files first (ties by name)."""
    found = {k[len(FILES_BY_LANGUAGE):]: v for k, v in counters.items() if k.startswith(FILES_BY_LANGUAGE)}
    return dict(sorted(found.items(), key=lambda kv: (-kv[1], kv[0])))


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
    counters = summary.get("counters", {})
    for name, value in counters.items():
        if not name.startswith(FILES_BY_LANGUAGE):
            rows.append((f"  {name}", f"{value:,}"))
    if by_language := files_by_language(counters):
        shown = [f"{lang} {n:,}" for lang, n in list(by_language.items())[:8]]
        more = f" and {len(by_language) - 8} more" if len(by_language) > 8 else ""
        rows.append(("  files by language", " · ".join(shown) + more))
    this_run = summary.get("this_run")
    if this_run:
        rows.append(("this run", f"{this_run['shards_done']} shards in {this_run['seconds']:.1f}s"
                     + (f", {this_run['shards_skipped']} already done" if this_run["shards_skipped"] else "")))
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)
    if summary.get("errors"):
        console.print(f"errors listed in {summary.get('output')}/_dscoder/errors.jsonl")
