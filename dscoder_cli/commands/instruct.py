"""`dscoder instruct`: instruction tuning on Alpaca-style / chat records (paper §3.5)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from ..app import app
from ..train_options import (DISTRIBUTED_OPTIMIZER, FP32, JSON_OUT, KEEP_CHECKPOINTS, NO_TE, NPROC, OVERWRITE,
                             PEAK_TFLOPS, PP, TP)


@app.command("instruct")
def instruct(
    checkpoint: Path = typer.Argument(..., help="A dscoder training OUTPUT or checkpoint folder, or a HuggingFace "
                                      "model folder (e.g. a released DeepSeek-Coder base model)."),
    data: List[Path] = typer.Argument(..., help="JSONL or Parquet files (or folders of them): `instruction`, "
                                      "`output`, optional `input`; or `messages` chats."),
    output: Path = typer.Argument(..., help="Training output: checkpoints, metrics, config, chat tokenizer."),
    lr: float = typer.Option(1e-5, help="Peak LR (paper: 1e-5)."),
    warmup_steps: int = typer.Option(100, min=0, help="Linear warm-up steps (paper: 100)."),
    min_lr_ratio: float = typer.Option(0.0, help="Final LR of the cosine schedule as a fraction of the peak."),
    seq_length: int = typer.Option(4096, help="Tokens per sequence; longer examples are truncated."),
    batch_tokens: int = typer.Option(4194304, help="Tokens per step (paper: 4M): sets the sequences per step "
                                     "to batch-tokens / seq-length."),
    global_batch: Optional[int] = typer.Option(None, help="Sequences per step (overrides --batch-tokens)."),
    micro_batch: int = typer.Option(1, min=1, help="Sequences per forward pass per rank."),
    steps: Optional[int] = typer.Option(None, help="Optimizer steps [default: --epochs over the data]."),
    epochs: float = typer.Option(3.0, help="Passes over the data when --steps is not given."),
    pack: bool = typer.Option(False, "--pack/--no-pack", help="Pack several examples per sequence (each keeps "
                              "its own loss mask and attends only to itself)."),
    tokenizer: Optional[Path] = typer.Option(None, help="Tokenizer folder [default: the checkpoint's]."),
    save_interval: int = typer.Option(500, min=1, help="Checkpoint every N steps (and at the end)."),
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
    """Instruction-tune a model with the DeepSeek-Coder chat template; only response tokens carry loss."""
    from stages.train.launch import dist_env

    from .pretrain import _usage_error, launch, print_result
    env = dist_env()
    world = env.world_size if env.launcher != "single" else nproc
    try:
        from stages.train.finetune import instruct_config
        cfg, stats, dataset = instruct_config(
            checkpoint, [str(d) for d in data], output, seq_length=seq_length, batch_tokens=batch_tokens,
            global_batch=global_batch, micro_batch=micro_batch, steps=steps, epochs=epochs, lr=lr,
            warmup_steps=warmup_steps, min_lr_ratio=min_lr_ratio, pack=pack, tokenizer=tokenizer, world_size=world,
            save_interval=save_interval, keep_checkpoints=keep_checkpoints, seed=seed, tp=tp, pp=pp, bf16=not fp32,
            use_transformer_engine=not no_te, distributed_optimizer=distributed_optimizer, peak_tflops=peak_tflops)
        if env.rank == 0:
            print(f"instruct data: {json.dumps(stats)}", file=sys.stderr, flush=True)
        result = launch(cfg, nproc, overwrite, dataset=dataset)
    except (ValueError, FileNotFoundError) as exc:
        _usage_error(str(exc))
    print_result(result, cfg, as_json)
