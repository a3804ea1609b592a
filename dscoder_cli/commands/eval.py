"""`dscoder eval`: options from stages/eval/config.py."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from stages.eval.config import EvalConfig

from ..app import command
from ..common import JSON_OUT
from ..options import config_options
from ..summary import print_json


def _print_table(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    benches = {n: b for n, b in summary["benchmarks"].items() if "pass@1" in b or "em" not in b}
    crossfile = {n: b for n, b in summary["benchmarks"].items() if n not in benches}
    ks = sorted({int(k.split("@")[1]) for b in benches.values() for k in b if k.startswith("pass@")})
    table = Table(title=f"dscoder eval: {summary['output']}")
    for col in ["benchmark", "tasks", "samples", *[f"pass@{k}" for k in ks], "failures"]:
        table.add_column(col, justify="left" if col in ("benchmark", "failures") else "right")
    for name, b in benches.items():
        fails = ", ".join(f"{s} {n}" for s, n in b.get("statuses", {}).items() if s != "passed")
        if b.get("without_generation"):
            fails = f"no generation {len(b['without_generation'])} (counted failed)" + (f", {fails}" if fails else "")
        if b.get("skipped"):
            fails = b["skipped"] + (f"; {fails}" if fails else "")
        table.add_row(name, f"{b['tasks_executed']}/{b['tasks']}", str(b["executed"]),
                      *[f"{100 * b[f'pass@{k}']:.1f}" if f"pass@{k}" in b else "-" for k in ks], fails or "")
    console = Console(file=sys.stdout)
    if benches:
        console.print(table)
    if crossfile:
        console.print(_crossfile_table(summary["output"], crossfile))
    for name, b in benches.items():
        for key, what in (("without_generation", "tasks without a generation (counted failed)"),
                          ("not_executed", "tasks not executed yet (counted failed)")):
            if b.get(key):
                ids = b[key]
                more = f" and {len(ids) - 10} more" if len(ids) > 10 else ""
                console.print(f"{name}: {len(ids)} {what}: {', '.join(ids[:10])}{more}", markup=False,
                              highlight=False)
    for note in summary["sandbox"]["notes"]:
        console.print(f"sandbox: {note}", markup=False, highlight=False)


def _crossfile_table(output: str, benches: dict):
    from rich.table import Table

    table = Table(title=f"dscoder eval: {output} (cross-file completion: EM, edit similarity, identifier EM/F1)")
    for col in ("benchmark", "language", "tasks", "EM", "ES", "ID EM", "ID F1"):
        table.add_column(col, justify="left" if col in ("benchmark", "language") else "right")
    for name, b in benches.items():
        rows = list(b.get("languages", {}).items()) + ([("all", b)] if len(b.get("languages", {})) > 1 else [])
        for lang, m in rows:
            table.add_row(name, lang, f"{m['tasks']:,}",
                          *(f"{m[k]:.2f}" if k in m else "-" for k in ("em", "es", "id_em", "id_f1")))
    return table


@command("eval")
@config_options(EvalConfig, dest="settings", exclude=("output",))
def eval_(
    output: Path = typer.Argument(..., help="Folder for generations, execution results and summary.json."),
    as_json: bool = JSON_OUT, settings: dict = None,
) -> None:
    """Evaluate a model (or existing completions) on HumanEval, MultiPL-E, MBPP and single-line
    infilling: sandboxed execution, pass@k (paper §4)."""
    from stages.eval.run import run_eval

    summary = run_eval(EvalConfig(output=output, **settings))
    (print_json if as_json else _print_table)(summary)
