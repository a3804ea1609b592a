"""`dscoder extend-context`: continue a pretrain checkpoint at 16K context with RoPE base 100K x4
(paper §3.4); options from stages/train/config.py."""

from __future__ import annotations

from pathlib import Path
from typing import List

import typer

from stages.train.config import ExtendContextOptions, TrainRunOptions

from ..app import command
from ..common import JSON_OUT
from ..options import config_options
from .pretrain import print_result


@command("extend-context")
@config_options(ExtendContextOptions, dest="settings")
@config_options(TrainRunOptions, dest="run")
def extend_context(
    checkpoint: Path = typer.Argument(..., help="A pretrain OUTPUT (its newest checkpoint) or one checkpoint folder."),
    data: List[Path] = typer.Argument(..., help="Token folder(s) from `dscoder tokenize` (*.bin/*.idx + tokenizer/)."),
    output: Path = typer.Argument(..., help="Training output: checkpoints, metrics, config, tokenizer."),
    as_json: bool = JSON_OUT, settings: dict = None, run: dict = None,
) -> None:
    """Extend the context window of a pretrained model (one trainer; resumes from OUTPUT's newest checkpoint)."""
    from stages.train.finetune import extend_context_config
    from stages.train.runner import launch, start_command

    run = TrainRunOptions(**run)
    start_command(run)
    cfg = extend_context_config(checkpoint, [str(d) for d in data], output, ExtendContextOptions(**settings), run)
    print_result(launch(cfg, run), as_json)
