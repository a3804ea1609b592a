"""`dscoder instruct`: instruction tuning on Alpaca-style / chat records (paper §3.5); options from
stages/train/config.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List

import typer

from stages.train.config import InstructOptions, TrainRunOptions

from ..app import command
from ..common import JSON_OUT
from ..options import config_options
from .pretrain import print_result


@command("instruct")
@config_options(InstructOptions, dest="settings")
@config_options(TrainRunOptions, dest="run")
def instruct(
    checkpoint: Path = typer.Argument(..., help="A dscoder training OUTPUT or checkpoint folder, or a HuggingFace "
                                      "model folder (e.g. a released DeepSeek-Coder base model)."),
    data: List[Path] = typer.Argument(..., help="JSONL or Parquet files (or folders of them): OpenAI `messages`, "
                                      "ShareGPT `conversations`, Alpaca `instruction`/`output`/`input`, or "
                                      "`prompt`/`completion` records."),
    output: Path = typer.Argument(..., help="Training output: checkpoints, metrics, config, chat tokenizer."),
    as_json: bool = JSON_OUT, settings: dict = None, run: dict = None,
) -> None:
    """Instruction-tune a model with the DeepSeek-Coder chat template; only response tokens carry loss."""
    from stages.train.distributed import dist_env
    from stages.train.finetune import instruct_config
    from stages.train.runner import launch, start_command

    run = TrainRunOptions(**run)
    start_command(run)
    cfg, stats, dataset = instruct_config(checkpoint, [str(d) for d in data], output, InstructOptions(**settings), run)
    if dist_env().rank == 0:
        print(f"instruct data: {json.dumps(stats)}", file=sys.stderr, flush=True)
        for token, tid in cfg.added_tokens.items():
            print(f"instruct: the tokenizer has no {token}: adding it as id {tid} (embedding and output rows from "
                  f"the mean embedding; recorded in config.yaml, exported with the tokenizer; "
                  "--no-add-chat-tokens refuses instead)", file=sys.stderr, flush=True)
    print_result(launch(cfg, run, dataset=dataset), as_json)
