"""`dscoder status` for what is not a data stage: a training run (steps done / total, last losses,
validation, checkpoints, tokens seen), an eval output (tasks done per benchmark, pass@1, partial or
complete) and a pipeline folder holding several stage outputs. Read from the files those write;
nothing is recomputed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Optional

from rich.console import Console


def describe_training(folder: Path) -> dict:
    import yaml

    from stages.train.checkpoint import list_checkpoints
    from stages.train.metrics import read_metrics
    cfg = yaml.safe_load((folder / "config.yaml").read_text()) or {}
    train, valid = read_metrics(folder / "metrics.jsonl")
    ckpts = list_checkpoints(folder)
    last = train[-1] if train else {}
    steps = int(cfg.get("steps") or 0)
    done = int(last.get("step", 0))
    return {"kind": "training", "output": str(folder), "stage": cfg.get("stage", "pretrain"),
            "model": cfg.get("model_name"), "steps_done": done, "steps_total": steps,
            "complete": bool(ckpts) and ckpts[-1][0] >= steps > 0,
            "last_losses": [round(r["loss"], 4) for r in train[-5:]],
            "last_validation": ({k: valid[-1][k] for k in ("step", "val_loss", "val_ppl")} if valid else None),
            "tokens_seen": int(last.get("tokens") or done * cfg.get("global_batch", 0) * cfg.get("seq_length", 0)),
            "checkpoints": [{"step": s, "path": str(p)} for s, p in ckpts],
            "steps_history": cfg.get("steps_history") or []}


def describe_eval(folder: Path) -> dict:
    from .report.collect import benchmark_size
    summary = json.loads((folder / "summary.json").read_text()) if (folder / "summary.json").exists() else {}
    benches = {}
    for name, b in (summary.get("benchmarks") or {}).items():
        total = benchmark_size(name)
        done = int(b.get("tasks_executed", 0))
        benches[name] = {"tasks_done": done, "tasks_in_run": b.get("tasks"), "tasks_in_benchmark": total,
                         "pass@1": b.get("pass@1"), "partial": total is None or done < total,
                         "skipped": b.get("skipped")}
    for manifest in sorted(folder.glob("*/manifest.json")):   # started, no summary line yet
        benches.setdefault(manifest.parent.name, {"tasks_done": 0, "tasks_in_run": None,
                                                  "tasks_in_benchmark": benchmark_size(manifest.parent.name),
                                                  "pass@1": None, "partial": True, "skipped": None})
    return {"kind": "eval", "output": str(folder), "model": summary.get("model"), "benchmarks": benches,
            "complete": bool(benches) and not any(b["partial"] for b in benches.values())}


def describe_other(folder: Path, describe: Callable[[Path], dict]) -> Optional[dict]:
    """A training run, an eval output, or a folder of stage outputs; None when it is none of those."""
    if (folder / "config.yaml").is_file() and ((folder / "metrics.jsonl").exists() or (folder / "checkpoints").exists()):
        return describe_training(folder)
    started = [m for m in folder.glob("*/manifest.json") if (m.parent / "generations.jsonl").exists()]
    if (folder / "summary.json").is_file() or (started and not (folder / "_dscoder").exists()):
        return describe_eval(folder)
    if not folder.is_dir():
        return None
    stages = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        try:
            stages.append(describe(sub))
        except Exception:   # noqa: BLE001 -- not a stage output (a tokenizer folder, a cache): not listed
            continue
    if not stages:
        return None
    return {"kind": "pipeline", "output": str(folder), "stages": stages,
            "complete": all(s.get("complete") for s in stages)}


def _state(done: bool) -> str:
    return "[green]complete[/green]" if done else "[yellow]in progress / partial[/yellow]"


def print_other(info: dict, print_any: Callable[[dict], None]) -> None:
    console = Console()
    if info["kind"] == "pipeline":
        console.print(f"[bold]pipeline[/bold] {info['output']}: {len(info['stages'])} stage outputs — "
                      + _state(info["complete"]), soft_wrap=True)
        for s in info["stages"]:
            console.print("")
            print_any(s)
        return
    if info["kind"] == "training":
        console.print(f"[bold]{info['stage']}[/bold] run {info['output']} (model {info['model']}) — "
                      f"steps {info['steps_done']:,} / {info['steps_total']:,} — " + _state(info["complete"]),
                      soft_wrap=True)
        console.print(f"tokens seen {info['tokens_seen']:,}; last losses {info['last_losses']}", markup=False)
        v = info["last_validation"]
        if v:
            console.print(f"validation at step {v['step']}: loss {v['val_loss']:.4f} perplexity {v['val_ppl']:.2f}",
                          markup=False)
        ck = info["checkpoints"]
        console.print(f"checkpoints: {', '.join(str(c['step']) for c in ck) or 'none'}"
                      + (f" (newest {ck[-1]['path']})" if ck else ""), markup=False, soft_wrap=True)
        for h in info["steps_history"]:
            console.print(f"continued at step {h['at_step']}: --steps {h['from_steps']} -> {h['to_steps']}", markup=False)
        return
    console.print(f"[bold]eval[/bold] output {info['output']} (model {info['model']}) — " + _state(info["complete"]),
                  soft_wrap=True)
    for name, b in info["benchmarks"].items():
        total = b["tasks_in_benchmark"]
        p1 = b["pass@1"]
        console.print(f"  {name}: {b['tasks_done']} / {total if total is not None else '?'} tasks"
                      + (" (partial)" if b["partial"] else "")
                      + (f", pass@1 {100 * p1:.1f}%" if isinstance(p1, (int, float)) else "")
                      + (f" — {b['skipped']}" if b["skipped"] else ""), markup=False)
