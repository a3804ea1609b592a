"""`dscoder pretrain`: megatron-core training on `dscoder tokenize` output (paper §3.3); options from
stages/train/config.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from stages.train.config import PretrainOptions, TrainRunOptions

from ..app import command
from ..common import JSON_OUT
from ..options import config_options


def print_result(summary: Optional[dict], as_json: bool) -> None:
    """The end of a training command (pretrain, extend-context, instruct): on the process that has a
    summary (rank 0, or the parent of `--nproc` ranks)."""
    if summary is None:
        return
    if as_json:
        print(json.dumps(summary))
        return
    loss = summary["final_loss"]
    print(f"trained {summary['steps']} steps; final loss {loss:.4f}" if loss is not None else "nothing left to train")
    if summary.get("val_loss") is not None:
        print(f"validation at step {summary['val_step']}: loss {summary['val_loss']:.4f} "
              f"perplexity {summary['val_ppl']:.2f}")
    print(f"checkpoint: {summary['checkpoint']}")


@command("pretrain")
@config_options(PretrainOptions, dest="settings")
@config_options(TrainRunOptions, dest="run")
def pretrain(
    data: List[Path] = typer.Argument(..., help="Token folder(s) from `dscoder tokenize` (*.bin/*.idx + tokenizer/)."),
    output: Path = typer.Argument(..., help="Training output: checkpoints, metrics, config, tokenizer."),
    as_json: bool = JSON_OUT, settings: dict = None, run: dict = None,
) -> None:
    """Pretrain a DeepSeek-Coder-style model with megatron-core (TP, PP, DP); resumes from OUTPUT's newest checkpoint."""
    from stages.train.runner import launch, pretrain_config, start_command

    run = TrainRunOptions(**run)
    start_command(run)
    cfg = pretrain_config(data, output, PretrainOptions(**settings), run)
    print_result(launch(cfg, run), as_json)
