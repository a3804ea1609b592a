"""Let megatron-core 0.16.1 train on a CPU over gloo; does nothing when CUDA is present.

megatron-core hard-codes CUDA in a handful of places (docs/pretrain.md, "Parallelism and launchers"):
`torch.cuda.current_device()` as a device, `torch.cuda.synchronize()`, the model-parallel CUDA RNG
tracker, a `device="cuda"` default causal mask, literal `device="cuda"` tensors in the pipeline
schedules / optimizer / grad clipping, and an assert on `torch.cuda.FloatTensor` in grad clipping.
Each is redirected to the CPU below. These reach into private names, which is why pyproject pins
megatron-core exactly and CI runs TP=2 and PP=2 jobs: an upgrade that moves a target fails loudly.
"""

from __future__ import annotations

import types

import torch

_applied = False


class _TorchShim(types.ModuleType):
    """`torch` as seen by the few megatron modules that create tensors with `device="cuda"`."""

    def __getattr__(self, name):
        return getattr(torch, name)


def _cpu_kwargs(kwargs: dict) -> dict:
    device = kwargs.get("device")
    if device is not None and torch.device(device).type == "cuda":
        kwargs["device"] = "cpu"
    kwargs.pop("pin_memory", None)
    return kwargs


def _clip_grad_by_total_norm(params, max_norm, total_norm, use_decoupled_grad=False):
    """megatron's clip asserts `torch.cuda.FloatTensor`; the same scaling with `_foreach_mul_`."""
    attr = "decoupled_grad" if use_decoupled_grad else "grad"
    params = [params] if torch.is_tensor(params) else params
    grads = [getattr(p, attr).detach() for p in params if getattr(p, attr, None) is not None]
    clip_coeff = max_norm / (total_norm + 1e-6)
    if clip_coeff < 1.0 and grads:
        torch._foreach_mul_(grads, clip_coeff)


def apply() -> bool:
    """Install the redirections once per process. Returns True when they are active."""
    global _applied
    if torch.cuda.is_available():
        return False
    if _applied:
        return True
    torch.cuda.current_device = lambda *a, **k: torch.device("cpu")
    torch.cuda.synchronize = lambda *a, **k: None
    torch.Tensor.cuda = lambda self, *a, **k: self  # tied embeddings under PP call .cuda()

    # The model-parallel RNG tracker (entered by attention even at dropout 0) -> the CPU generator.
    import megatron.core.tensor_parallel.random as tp_random
    torch.cuda.get_rng_state = lambda *a, **k: torch.get_rng_state()
    torch.cuda.manual_seed = lambda seed: torch.manual_seed(seed)
    tp_random._get_cuda_rng_state = lambda *a, **k: torch.get_rng_state()
    tp_random._set_cuda_rng_state = lambda state, *a, **k: torch.set_rng_state(state)

    # Default causal mask (used when no attention mask is passed) without device="cuda".
    import megatron.core.fusions.fused_softmax as fused_softmax
    import megatron.core.transformer.utils as transformer_utils

    def causal_mask(sq: int) -> torch.Tensor:
        return torch.triu(torch.ones(sq, sq, dtype=torch.bool), diagonal=1)
    transformer_utils.get_default_causal_mask = fused_softmax.get_default_causal_mask = causal_mask

    # Literal device="cuda" tensors in the schedules, optimizer, grad clipping and utils.
    import megatron.core.optimizer.clip_grads as clip_grads
    import megatron.core.optimizer.optimizer as optimizer
    import megatron.core.pipeline_parallel.schedules as schedules
    import megatron.core.utils as core_utils
    shim = _TorchShim("torch")
    for name in ("zeros", "ones", "empty", "tensor", "full", "arange"):
        real = getattr(torch, name)
        setattr(shim, name, (lambda real: lambda *a, **k: real(*a, **_cpu_kwargs(k)))(real))
    for module in (schedules, optimizer, clip_grads, core_utils):
        module.torch = shim
    clip_grads.clip_grad_by_total_norm_fp32 = _clip_grad_by_total_norm
    optimizer.clip_grad_by_total_norm_fp32 = _clip_grad_by_total_norm
    _applied = True
    return True
