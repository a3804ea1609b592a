"""AdamW through megatron's optimizer, and the learning-rate schedules (a pure function of the step,
so the scheduler state in a checkpoint is just the step)."""

from __future__ import annotations

import math

from .config import TrainConfig


def lr_at(step: int, cfg: TrainConfig) -> float:
    """LR for optimizer step `step` (0-based).

    - warm-up: linear from lr/warmup to lr over `warmup_steps` (paper: 2000);
    - multistep (paper §3.3): at each milestone fraction of the steps (80%, 90%) the LR drops to
      r^(1/k) of the previous one, where r = min_lr_ratio and k milestones: sqrt(1/10) twice, ending at 10%;
    - cosine (instruct): from lr down to min_lr_ratio·lr at the last step;
    - constant (extend-context: the LR held at its final value).
    """
    peak = cfg.lr
    if step < cfg.warmup_steps:
        return peak * (step + 1) / cfg.warmup_steps
    if cfg.lr_schedule == "constant":
        return peak
    if cfg.lr_schedule == "cosine":
        span = max(1, cfg.steps - cfg.warmup_steps - 1)
        progress = min(1.0, (step - cfg.warmup_steps) / span)
        low = peak * cfg.min_lr_ratio
        return low + 0.5 * (peak - low) * (1 + math.cos(math.pi * progress))
    passed = sum(step >= round(m * cfg.steps) for m in cfg.lr_milestones)
    factor = cfg.min_lr_ratio ** (1.0 / len(cfg.lr_milestones)) if cfg.lr_milestones else 1.0
    return peak * factor ** passed


def set_lr(optimizer, lr: float, weight_decay: float) -> None:
    """Apply the LR and weight decay to every param group, honouring megatron's per-group
    multipliers (no decay on norms: `wd_mult` 0)."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_mult", 1.0)
        group["weight_decay"] = weight_decay * group.get("wd_mult", 1.0)


def build_optimizer(cfg: TrainConfig, model_chunks, rt):
    """megatron's AdamW (decoupled weight decay); norms and biases get no decay, as in Megatron-LM."""
    import torch
    from megatron.core.optimizer import OptimizerConfig, get_megatron_optimizer

    oc = OptimizerConfig(optimizer="adam", lr=cfg.lr, min_lr=cfg.lr * cfg.min_lr_ratio,
                         weight_decay=cfg.weight_decay, adam_beta1=cfg.adam_beta1, adam_beta2=cfg.adam_beta2,
                         adam_eps=cfg.adam_eps, clip_grad=cfg.clip_grad, bf16=rt.dtype == torch.bfloat16,
                         params_dtype=rt.dtype, use_distributed_optimizer=rt.cuda and cfg.distributed_optimizer)
    return get_megatron_optimizer(oc, model_chunks)
