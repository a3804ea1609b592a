"""Running a training command: its options resolved into a `TrainConfig` (pretrain here;
extend-context and instruct in `finetune.py`), OUTPUT opened (`stages.core.output`), the trainer run
in this process (torchrun, srun, one process) or in `--nproc` spawned ones, and the summary.
docs/pretrain.md.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Optional

from stages.core.atomic import write_json_atomic
from stages.core.errors import DscoderError, UsageError
from stages.core.manifest import check_complete_input
from stages.core.output import OpenedOutput, OutputKind, open_output, refuse_changed

from .checkpoint import list_checkpoints, newest_usable
from .config import (MissingFile, PretrainOptions, TrainConfig, TrainRunOptions, blend_weights, default_steps,
                     identity, load_preset, lr_milestones)
from .distributed import dist_env
from .launch import spawn_local
from .metrics import read_metrics
from .trainer import resolve_vocab, train

CONFIG = "config.yaml"   # a training output's record: the resolved TrainConfig
# `launch.json`: the job `--nproc` hands its ranks; `_slurm/`: `dscoder submit` writes its sbatch
# script and logs there before the run starts.
TRAINING_OUTPUT = OutputKind("dscoder training output", is_ours=lambda root: (root / CONFIG).exists(),
                             may_hold=frozenset({"launch.json", "_slurm"}))
# --overwrite deletes nothing but a training output (not even a folder holding only `_slurm/`: the
# logs of the job that is running).
_OVERWRITABLE = dataclasses.replace(TRAINING_OUTPUT, may_hold=frozenset())


def _given(value, default):
    """`value`, or the preset's `default` where it was not given (None). Never `value or default`:
    a 0 is not "the preset's" (the options refuse it when parsed, `TrainConfig.validate` in Python)."""
    return default if value is None else value


def pretrain_config(data: list[Path], output: Path, options: PretrainOptions, run: TrainRunOptions) -> TrainConfig:
    """`dscoder pretrain`'s options -> a resolved `TrainConfig` (preset defaults filled in, vocabulary sized)."""
    from .hf_mapping import model_config_from_hf

    o = options
    preset = load_preset(o.model, o.model_config)
    m = preset.model
    if o.init_from_hf is not None:
        cfg_file = Path(o.init_from_hf) / "config.json"
        if not cfg_file.exists():
            raise MissingFile(f"--init-from-hf {o.init_from_hf}: no config.json")
        m = model_config_from_hf(json.loads(cfg_file.read_text()))
        m = dataclasses.replace(m, max_position_embeddings=max(m.max_position_embeddings, preset.seq_length))
    seq = _given(o.seq_length, preset.seq_length)
    gb = _given(o.global_batch, preset.global_batch)
    cfg = TrainConfig(
        data=[str(Path(d).resolve()) for d in data], output=str(Path(output).resolve()), model=m,
        model_name=o.model if o.model_config is None and o.init_from_hf is None else "custom",
        data_weights=blend_weights(o.data_weights),
        steps=default_steps(preset, gb, seq) if o.steps is None else o.steps,
        warmup_steps=_given(o.warmup_steps, preset.warmup_steps),
        seq_length=seq, global_batch=gb, micro_batch=_given(o.micro_batch, preset.micro_batch),
        lr=_given(o.lr, preset.max_lr), min_lr_ratio=o.min_lr_ratio, lr_schedule="multistep",
        lr_milestones=lr_milestones(o.lr_milestones),
        save_interval=o.save_interval, init_from_hf=str(Path(o.init_from_hf).resolve()) if o.init_from_hf else None,
        stage="pretrain", **run.train_fields())
    if cfg.seq_length > m.max_position_embeddings:
        cfg.model.max_position_embeddings = cfg.seq_length
    return resolve_vocab(cfg)


def start_command(run: TrainRunOptions) -> None:
    """First thing a training command does: hide the known third-party warnings (`quiet.py`; not
    with --verbose) before megatron is imported, and refuse --wandb-project without wandb."""
    from .metrics import check_wandb
    from .quiet import install
    install(run.verbose)
    check_wandb(run.wandb_project)


def check_output(cfg: TrainConfig, overwrite: bool, world_size: int, rank: int = 0) -> OpenedOutput:
    """Resume on an OUTPUT made with the same options; refuse when they changed (naming them), or
    when OUTPUT is something else, or an input is OUTPUT or (with `overwrite`) inside it; `overwrite`
    starts over. Rank 0 takes the lock for the whole run (all its ranks are one writer). Another
    --steps continues the run (a finished one too): the LR schedule is that of the new total from
    here on, and the change is appended to `steps_history` in config.yaml (by rank 0)."""
    out = Path(cfg.output)
    if overwrite and world_size > 1:
        # Every rank must refuse alike, whether or not another one has created OUTPUT yet.
        raise UsageError("--overwrite with several ranks would let them delete each other's work; "
                         "delete the output folder once, then start the ranks")
    inputs = [*cfg.data, cfg.init_from_checkpoint, cfg.init_from_hf, cfg.tokenizer]
    for folder in cfg.data:
        check_complete_input(folder, allow_flag=None)
    handle = open_output(out, _OVERWRITABLE if overwrite else TRAINING_OUTPUT, overwrite=overwrite,
                         world_size=world_size, inputs=inputs, lock="writer" if rank == 0 else None)
    try:
        if not overwrite and (out / CONFIG).exists():
            _continue(out, cfg, rank)
    except BaseException:
        handle.release()
        raise
    return handle


def _continue(out: Path, cfg: TrainConfig, rank: int) -> None:
    """Refuse changed options; a changed --steps continues the run (recorded in steps_history)."""
    old = TrainConfig.load(out / CONFIG)
    refuse_changed(out, identity(old), identity(cfg))
    cfg.steps_history = list(old.steps_history)
    if old.steps == cfg.steps:
        return
    done = _resume_step(out)
    if cfg.steps < done:
        raise UsageError(f"{out} has trained {done} steps; --steps {cfg.steps} is fewer (its checkpoints are "
                         "kept: export one, or continue with a larger --steps)")
    cfg.steps_history.append({"from_steps": old.steps, "to_steps": cfg.steps, "at_step": done,
                              "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    if rank == 0:
        cfg.save(out / CONFIG)
        print(f"{out}: continuing from step {done} to --steps {cfg.steps} (was {old.steps}); the LR schedule is "
              f"recomputed for {cfg.steps} steps; recorded in {CONFIG} (steps_history)", file=sys.stderr, flush=True)


def launch(cfg: TrainConfig, run: TrainRunOptions, dataset=None) -> Optional[dict]:
    """Train in this process (torchrun / srun / single) or spawn `run.nproc` local processes.
    Returns the summary on the process that has one (rank 0 or the spawning parent). `dataset`, when
    the caller built it already, is used by a trainer in this process (spawned ones build their own)."""
    env = dist_env()
    cfg.validate(env.world_size if env.launcher != "single" else run.nproc)
    with check_output(cfg, run.overwrite, env.world_size, env.rank):
        return _launch(cfg, run, env, dataset)


def _resume_step(out: Path) -> int:
    """The step a run on OUTPUT resumes from: its newest usable checkpoint's (damaged newer ones are
    skipped, as the trainer skips them), 0 without one."""
    if not list_checkpoints(out):
        return 0
    try:
        return newest_usable(out, report=None)[0]
    except DscoderError:  # none usable: the trainer says so
        return 0


def _launch(cfg: TrainConfig, run: TrainRunOptions, env, dataset) -> Optional[dict]:
    if env.launcher == "single" and run.nproc > 1:
        out = Path(cfg.output)
        job = out / "launch.json"
        write_json_atomic(job, {"kind": "train", "config": cfg.to_dict()})
        start_step = _resume_step(out)
        code = spawn_local(run.nproc, job)
        if code != 0:
            raise DscoderError(f"a training process exited with code {code}")
        return result_summary(summary_from_metrics(out, cfg.steps, start_step), cfg)
    result = train(cfg, dataset)
    return result_summary(result, cfg) if env.rank == 0 else None


def summary_from_metrics(output: Path, steps: int, start_step: int = 0) -> dict:
    train_rows, _ = read_metrics(output / "metrics.jsonl")
    losses = [r["loss"] for r in train_rows if r["step"] > start_step]
    return {"steps": steps, "losses": losses, "final_loss": losses[-1] if losses else None}


def result_summary(result: dict, cfg: TrainConfig) -> dict:
    """What a training command prints: OUTPUT, steps, the final loss (None: nothing was left to
    train), the last validation (step, loss, perplexity; None without one) and the newest checkpoint."""
    ckpts = list_checkpoints(Path(cfg.output))
    _, valid = read_metrics(Path(cfg.output) / "metrics.jsonl")
    last = valid[-1] if valid else None
    return {"output": cfg.output, "steps": cfg.steps, "final_loss": result.get("final_loss"),
            "val_loss": last["val_loss"] if last else None, "val_ppl": last["val_ppl"] if last else None,
            "val_step": last["step"] if last else None,
            "checkpoint": str(ckpts[-1][1]) if ckpts else None}
