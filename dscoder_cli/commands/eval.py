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


def _pct(value) -> str:
    return f"{100 * value:.1f}" if isinstance(value, (int, float)) else "-"


def _paper(entry: dict, group: str | None = None) -> str:
    numbers = entry.get("groups", {}).get(group, {}) if group else entry.get("pass@1", {})
    return " / ".join(f"{numbers[s]:g}" if s in numbers else "-" for s in ("1.3b", "6.7b", "33b")) if numbers else ""


def _print_table(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=sys.stdout)
    if summary.get("steps") == ["prompts"]:
        for name, path in summary["prompts"].items():
            console.print(f"{name}: {path}", markup=False, highlight=False)
        for name, why in summary.get("skipped", {}).items():
            console.print(f"{name}: {why}", markup=False, highlight=False)
        return
    benches = {n: b for n, b in summary["benchmarks"].items() if "pass@1" in b or "em" not in b}
    crossfile = {n: b for n, b in summary["benchmarks"].items() if n not in benches}
    ks = sorted({int(k.split("@")[1]) for b in benches.values() for k in b if k.startswith("pass@")})
    protocols = summary.get("sandbox", {}).get("protocols", ["strict"])
    table = Table(title=f"dscoder eval: {summary['output']}")
    cols = ["benchmark", "tasks", "samples", *[f"pass@{k} ({protocols[0]})" for k in ks]]
    cols += [f"pass@1 ({p})" for p in protocols[1:]] + ["paper 1.3B / 6.7B / 33B", "failures"]
    for col in cols:
        table.add_column(col, justify="left" if col in ("benchmark", "failures") else "right")
    for name, b in benches.items():
        fails = ", ".join(f"{s} {n}" for s, n in b.get("statuses", {}).items() if s != "passed")
        if b.get("without_generation"):
            fails = f"no generation {len(b['without_generation'])} (counted failed)" + (f", {fails}" if fails else "")
        if b.get("verdicts_differ"):
            fails = f"protocols differ on {len(b['verdicts_differ'])} tasks" + (f"; {fails}" if fails else "")
        if b.get("skipped"):
            fails = b["skipped"] + (f"; {fails}" if fails else "")
        others = [_pct(b.get("protocols", {}).get(p, {}).get("pass@1")) for p in protocols[1:]]
        label = name if b.get("protocol") != "exact_match" else f"{name} (exact match)"
        table.add_row(label, f"{b.get('tasks_executed', 0)}/{b.get('tasks', 0)}", str(b.get("executed", 0)),
                      *[_pct(b.get(f"pass@{k}")) for k in ks], *others, _paper(b.get("paper", {})), fails or "")
        for group, g in b.get("groups", {}).items():
            others = [_pct(b.get("protocols", {}).get(p, {}).get("groups", {}).get(group, {}).get("pass@1"))
                      for p in protocols[1:]]
            extra = f"edit similarity {g['edit_similarity']:.1f}" if "edit_similarity" in g else ""
            table.add_row(f"  {group}", str(g["tasks"]), "", _pct(g.get("pass@1")), *[""] * (len(ks) - 1), *others,
                          _paper(b.get("paper", {}), group), extra)
        if "mean" in b:
            table.add_row("  mean", "", "", _pct(b["mean"]), *[""] * (len(ks) - 1), *[""] * len(others), "", "")
    if benches:
        console.print(table)
    if crossfile:
        console.print(_crossfile_table(summary["output"], crossfile))
    for name, b in benches.items():
        for key, what in (("without_generation", "tasks without a generation (counted failed)"),
                          ("not_executed", "tasks not executed yet (counted failed)"),
                          ("verdicts_differ", "tasks whose verdicts differ between the protocols")):
            if b.get(key):
                ids = b[key]
                more = f" and {len(ids) - 10} more" if len(ids) > 10 else ""
                console.print(f"{name}: {len(ids)} {what}: {', '.join(ids[:10])}{more}", markup=False,
                              highlight=False)
        if b.get("skipped"):  # also below the table: a narrow terminal wraps its cells
            console.print(f"{name}: {b['skipped']}", markup=False, highlight=False)
        if b.get("paper", {}).get("note"):
            console.print(f"{name}: paper: {b['paper']['note']}", markup=False, highlight=False)
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
    """Evaluate a model (or existing completions) on the paper's benchmarks (HumanEval in 8 languages,
    MBPP, DS-1000, LeetCode, FIM, PAL-Math): sandboxed execution, pass@k under DeepSeek's and the strict
    verdicts (paper §4)."""
    from stages.eval.run import run_eval

    summary = run_eval(EvalConfig(output=output, **settings))
    (print_json if as_json else _print_table)(summary)
