"""`dscoder extend-context`: continue a pretrain checkpoint at 16K context with RoPE base 100K x4 (paper §3.4)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..app import app
from ..train_options import (DISTRIBUTED_OPTIMIZER, FP32, JSON_OUT, KEEP_CHECKPOINTS, NO_TE, NPROC, OVERWRITE,
                             PEAK_TFLOPS, PP, TP)


@app.command("extend-context")
def extend_context(
    checkpoint: Path = typer.Argument(..., help="A pretrain OUTPUT (its newest checkpoint) or one checkpoint folder."),
    data: List[Path] = typer.Argument(..., help="Token folder(s) from `dscoder tokenize` (*.bin/*.idx + tokenizer/)."),
    output: Path = typer.Argument(..., help="Training output: checkpoints, metrics, config, tokenizer."),
    rope_base: float = typer.Option(100000.0, help="RoPE base (paper: 10,000 -> 100,000)."),
    rope_scale: float = typer.Option(4.0, help="Linear position interpolation factor (paper: 4; 1 = none)."),
    seq_length: int = typer.Option(16384, help="Tokens per sequence (paper: 16K)."),
    steps: int = typer.Option(1000, min=1, help="Optimizer steps (paper: 1000)."),
    global_batch: int = typer.Option(512, min=1, help="Sequences per step (paper: 512)."),
    micro_batch: int = typer.Option(1, min=1, help="Sequences per forward pass per rank."),
    lr: Optional[float] = typer.Option(None, help="Constant LR [default: the checkpoint's final LR, as in the paper]."),
    warmup_steps: int = typer.Option(0, min=0, help="Linear warm-up steps (0: the LR is held from the first step)."),
    fresh_optimizer: bool = typer.Option(False, "--fresh-optimizer", help="Start with new Adam moments instead of "
                                         "the checkpoint's optimizer state."),
    data_weights: Optional[str] = typer.Option(None, help="Comma-separated blend weights, one per DATA folder "
                                               "[default: by token count]."),
    save_interval: int = typer.Option(250, min=1, help="Checkpoint every N steps (and at the end)."),
    keep_checkpoints: int = KEEP_CHECKPOINTS,
    seed: int = typer.Option(1234, help="Seed of the data order."),
    tp: int = TP,
    pp: int = PP,
    nproc: int = NPROC,
    fp32: bool = FP32,
    no_te: bool = NO_TE,
    distributed_optimizer: bool = DISTRIBUTED_OPTIMIZER,
    peak_tflops: Optional[float] = PEAK_TFLOPS,
    overwrite: bool = OVERWRITE,
    as_json: bool = JSON_OUT,
) -> None:
    """Extend the context window of a pretrained model (one trainer; resumes from OUTPUT's newest checkpoint)."""
    from .pretrain import _floats, _usage_error, launch, print_result
    try:
        from stages.train.finetune import extend_context_config
        cfg = extend_context_config(
            checkpoint, [str(d) for d in data], output, rope_base=rope_base, rope_scale=rope_scale,
            seq_length=seq_length, steps=steps, global_batch=global_batch, micro_batch=micro_batch, lr=lr,
            warmup_steps=warmup_steps, fresh_optimizer=fresh_optimizer,
            data_weights=_floats(data_weights, "--data-weights"), save_interval=save_interval,
            keep_checkpoints=keep_checkpoints, seed=seed, tp=tp, pp=pp, bf16=not fp32, use_transformer_engine=not no_te,
            distributed_optimizer=distributed_optimizer, peak_tflops=peak_tflops)
        result = launch(cfg, nproc, overwrite)
    except (ValueError, FileNotFoundError) as exc:
        _usage_error(str(exc))
    print_result(result, cfg, as_json)
