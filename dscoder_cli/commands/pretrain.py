"""`dscoder pretrain`: megatron-core training on `dscoder tokenize` output (paper §3.3)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import List, Optional

import typer

from ..app import app
from ..train_options import (DISTRIBUTED_OPTIMIZER, FP32, JSON_OUT, KEEP_CHECKPOINTS, NO_TE, NPROC, OVERWRITE,
                             PEAK_TFLOPS, PP, TP)


def _floats(text: Optional[str], option: str) -> Optional[list[float]]:
    if text is None:
        return None
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"{option}: expected comma-separated numbers, got {text!r}")


def _usage_error(msg: str):
    print(f"dscoder: error: {msg}", file=sys.stderr)
    raise typer.Exit(2)


def build_config(data, output, model, model_config, data_weights, steps, warmup_steps, seq_length, global_batch,
                 micro_batch, lr, min_lr_ratio, lr_milestones, save_interval, keep_checkpoints, seed, tp, pp,
                 init_from_hf, fp32, no_te, distributed_optimizer, peak_tflops, stage="pretrain",
                 lr_schedule="multistep"):
    """Options -> a resolved `TrainConfig` (preset defaults filled in, vocabulary sized)."""
    import dataclasses

    from stages.train.config import TrainConfig, default_steps, load_preset
    from stages.train.trainer import resolve_vocab

    preset = load_preset(model, model_config)
    m = preset.model
    if init_from_hf is not None:
        from stages.train.hf_adapter import model_config_from_hf
        cfg_file = Path(init_from_hf) / "config.json"
        if not cfg_file.exists():
            raise ValueError(f"--init-from-hf {init_from_hf}: no config.json")
        m = model_config_from_hf(json.loads(cfg_file.read_text()))
        m = dataclasses.replace(m, max_position_embeddings=max(m.max_position_embeddings, preset.seq_length))
    seq = seq_length or preset.seq_length
    gb = global_batch or preset.global_batch
    cfg = TrainConfig(
        data=[str(Path(d).resolve()) for d in data], output=str(Path(output).resolve()), model=m,
        model_name=model if model_config is None and init_from_hf is None else "custom",
        data_weights=_floats(data_weights, "--data-weights"),
        steps=steps or default_steps(preset, gb, seq),
        warmup_steps=preset.warmup_steps if warmup_steps is None else warmup_steps,
        seq_length=seq, global_batch=gb, micro_batch=micro_batch or preset.micro_batch,
        lr=lr or preset.max_lr, min_lr_ratio=min_lr_ratio, lr_schedule=lr_schedule,
        lr_milestones=_floats(lr_milestones, "--lr-milestones") if lr_milestones else [],
        save_interval=save_interval, keep_checkpoints=keep_checkpoints, seed=seed, tp=tp, pp=pp,
        bf16=not fp32, use_transformer_engine=not no_te, distributed_optimizer=distributed_optimizer,
        init_from_hf=str(Path(init_from_hf).resolve()) if init_from_hf else None, peak_tflops=peak_tflops,
        stage=stage)
    if cfg.seq_length > m.max_position_embeddings:
        cfg.model.max_position_embeddings = cfg.seq_length
    return resolve_vocab(cfg)


def check_output(cfg, overwrite: bool, world_size: int) -> None:
    """Resume on an OUTPUT made with the same options; refuse when they changed (exit 2)."""
    from stages.train.config import TrainConfig, changed_options
    out = Path(cfg.output)
    prev = out / "config.yaml"
    if overwrite:
        if world_size > 1:
            raise ValueError("--overwrite cannot be used under a multi-process launcher; delete OUTPUT first")
        if out.exists():
            if not prev.exists() and any(out.iterdir()):
                raise ValueError(f"{out} is not a dscoder training output; refusing to delete it")
            shutil.rmtree(out)
        return
    if prev.exists():
        changed = changed_options(TrainConfig.load(prev), cfg)
        if changed:
            raise ValueError(f"{out} was trained with other options ({', '.join(changed)}); "
                             "use the same options to resume, or --overwrite to start over")
    elif out.exists() and any(p.name not in ("launch.json", "_slurm") for p in out.iterdir()):
        # (`dscoder submit` writes its sbatch script and logs to OUTPUT/_slurm before the run starts)
        raise ValueError(f"{out} exists and is not a dscoder training output")


def launch(cfg, nproc: int, overwrite: bool, dataset=None) -> Optional[dict]:
    """Run in this process (torchrun / srun / single) or spawn `nproc` local processes.
    Returns the summary on the process that has one (rank 0 or the spawning parent). `dataset`, when
    the caller built it already, is used by a trainer in this process (spawned ones build their own)."""
    from stages.train.launch import dist_env, spawn_local

    env = dist_env()
    cfg.validate(env.world_size if env.launcher != "single" else nproc)
    check_output(cfg, overwrite, env.world_size)
    if env.launcher == "single" and nproc > 1:
        out = Path(cfg.output)
        out.mkdir(parents=True, exist_ok=True)
        job = out / "launch.json"
        job.write_text(json.dumps({"kind": "train", "config": cfg.to_dict()}))
        code = spawn_local(nproc, job)
        if code != 0:
            print(f"dscoder: error: a training process exited with code {code}", file=sys.stderr)
            raise typer.Exit(1)
        return summary_from_metrics(out, cfg.steps)
    from stages.train.trainer import train
    result = train(cfg, dataset)
    return result if env.rank == 0 else None


def summary_from_metrics(output: Path, steps: int) -> dict:
    recs = [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return {"steps": steps, "losses": [r["loss"] for r in recs], "final_loss": recs[-1]["loss"] if recs else None}


def print_result(result: Optional[dict], cfg, as_json: bool) -> None:
    if result is None:
        return
    from stages.train.checkpoint import list_checkpoints
    ckpts = list_checkpoints(Path(cfg.output))
    summary = {"output": cfg.output, "steps": cfg.steps, "final_loss": result.get("final_loss"),
               "checkpoint": str(ckpts[-1][1]) if ckpts else None}
    if as_json:
        print(json.dumps(summary))
    else:
        loss = summary["final_loss"]
        print(f"trained {cfg.steps} steps; final loss {loss:.4f}" if loss is not None else "nothing left to train")
        print(f"checkpoint: {summary['checkpoint']}")


@app.command("pretrain")
def pretrain(
    data: List[Path] = typer.Argument(..., help="Token folder(s) from `dscoder tokenize` (*.bin/*.idx + tokenizer/)."),
    output: Path = typer.Argument(..., help="Training output: checkpoints, metrics, config, tokenizer."),
    model: str = typer.Option("1.3b", "--model", help="Preset: 1.3b, 6.7b, 33b (paper Table 2) or tiny (CPU)."),
    model_config: Optional[Path] = typer.Option(None, "--model-config", help="YAML of model settings "
                                                "(overrides --model; `base: <preset>` to start from one)."),
    data_weights: Optional[str] = typer.Option(None, help="Comma-separated blend weights, one per DATA folder "
                                               "[default: by token count]."),
    steps: Optional[int] = typer.Option(None, help="Optimizer steps [default: 2T tokens / (batch x seq)]."),
    warmup_steps: Optional[int] = typer.Option(None, help="Linear warm-up steps [default: 2000; tiny: 30]."),
    seq_length: Optional[int] = typer.Option(None, help="Tokens per sequence [default: 4096; tiny: 128]."),
    global_batch: Optional[int] = typer.Option(None, help="Sequences per step [default: the preset's, "
                                               "1024 / 2304 / 3840]."),
    micro_batch: Optional[int] = typer.Option(None, help="Sequences per forward pass per rank [default: preset]."),
    lr: Optional[float] = typer.Option(None, help="Max LR [default: 5.3e-4 / 4.2e-4 / 3.5e-4]."),
    min_lr_ratio: float = typer.Option(0.1, help="Final LR as a fraction of max (paper: 10%)."),
    lr_milestones: str = typer.Option("0.8,0.9", help="Fractions of --steps where the LR steps down "
                                      "(each to min-lr-ratio^(1/k) of the previous: sqrt(1/10) twice)."),
    save_interval: int = typer.Option(1000, min=1, help="Checkpoint every N steps (and at the end)."),
    keep_checkpoints: int = KEEP_CHECKPOINTS,
    seed: int = typer.Option(1234, help="Seed of the initialisation and the data order."),
    tp: int = TP,
    pp: int = PP,
    nproc: int = NPROC,
    init_from_hf: Optional[Path] = typer.Option(None, "--init-from-hf", help="Start from a HuggingFace Llama "
                                                "checkpoint folder (e.g. a released DeepSeek-Coder)."),
    fp32: bool = FP32,
    no_te: bool = NO_TE,
    distributed_optimizer: bool = DISTRIBUTED_OPTIMIZER,
    peak_tflops: Optional[float] = PEAK_TFLOPS,
    overwrite: bool = OVERWRITE,
    as_json: bool = JSON_OUT,
) -> None:
    """Pretrain a DeepSeek-Coder-style model with megatron-core (TP, PP, DP); resumes from OUTPUT's newest checkpoint."""
    try:
        cfg = build_config(data, output, model, model_config, data_weights, steps, warmup_steps, seq_length,
                           global_batch, micro_batch, lr, min_lr_ratio, lr_milestones, save_interval,
                           keep_checkpoints, seed, tp, pp, init_from_hf, fp32, no_te, distributed_optimizer,
                           peak_tflops)
        result = launch(cfg, nproc, overwrite)
    except (ValueError, FileNotFoundError) as exc:
        _usage_error(str(exc))
    print_result(result, cfg, as_json)
