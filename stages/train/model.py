"""megatron-core `GPTModel` for a `ModelConfig`, on the runtime's device and spec; FLOPs per token."""

from __future__ import annotations

import dataclasses
import math

from .config import ModelConfig


def padded_vocab_size(n_tokens: int, multiple: int) -> int:
    return int(math.ceil(n_tokens / multiple) * multiple)


def recompute_settings(recompute: str) -> dict:
    """megatron-core's activation recomputation for `--recompute-activations`: `selective` recomputes
    the attention core (softmax(QK^T)V, the activations quadratic in the sequence) in the backward
    pass; `full` keeps only each layer's input and recomputes the whole layer (uniform, one layer per
    unit: the least memory, about one more forward pass of compute)."""
    if recompute == "selective":
        return dict(recompute_granularity="selective", recompute_modules=["core_attn"])
    if recompute == "full":
        return dict(recompute_granularity="full", recompute_method="uniform", recompute_num_layers=1)
    return {}


def transformer_config(m: ModelConfig, tp: int, pp: int, rt, recompute: str = "none",
                       sequence_parallel: bool = False):
    import torch
    import torch.nn.functional as F
    from megatron.core.transformer.enums import AttnBackend
    from megatron.core.transformer.transformer_config import TransformerConfig

    fused = rt.use_te  # fusions need TransformerEngine / CUDA kernels
    return TransformerConfig(
        num_layers=m.num_layers, hidden_size=m.hidden_size, num_attention_heads=m.num_attention_heads,
        num_query_groups=m.num_query_groups, ffn_hidden_size=m.ffn_hidden_size, kv_channels=m.kv_channels,
        normalization="RMSNorm", layernorm_epsilon=m.norm_eps, gated_linear_unit=True, activation_func=F.silu,
        add_bias_linear=False, hidden_dropout=0.0, attention_dropout=0.0, init_method_std=m.init_method_std,
        tensor_model_parallel_size=tp, pipeline_model_parallel_size=pp, sequence_parallel=sequence_parallel and tp > 1,
        **recompute_settings(recompute),
        # CPU: TP-invariant initialisation (TP=2 starts from the same weights as TP=1).
        use_cpu_initialization=not rt.cuda, perform_initialization=True,
        params_dtype=rt.dtype, pipeline_dtype=rt.dtype, bf16=rt.dtype == torch.bfloat16,
        gradient_accumulation_fusion=fused, bias_activation_fusion=fused, masked_softmax_fusion=fused,
        apply_rope_fusion=fused, bias_dropout_fusion=fused, persist_layer_norm=False,
        attention_backend=AttnBackend.auto if rt.use_te else AttnBackend.local,
    )


def _pp_invariant_init(spec, seed: int):
    """Seed the CPU generator from the *global* layer number before each layer is built, so a
    layer's initial weights do not depend on how many layers precede it on its pipeline stage:
    PP=2 starts from the same weights as PP=1 (with `use_cpu_initialization`, TP already does).
    The output layer follows the last layer on every layout, so it inherits the same state."""
    import torch
    from megatron.core.transformer.transformer_layer import get_transformer_layer_offset

    base = spec.module

    class SeededLayer(base):
        def __init__(self, config, submodules, layer_number=1, *args, **kwargs):
            global_number = layer_number + get_transformer_layer_offset(config, kwargs.get("vp_stage"))
            torch.manual_seed(seed * 1_000_003 + global_number)
            super().__init__(config, submodules, layer_number, *args, **kwargs)

    SeededLayer.__name__ = SeededLayer.__qualname__ = base.__name__
    return dataclasses.replace(spec, module=SeededLayer)


def _sequence_parallel_norms(spec, config):
    """Under --sequence-parallel the local spec's norms see only this rank's slice of the sequence;
    megatron's torch-norm wrapper refuses that (`WrappedTorchNorm` asserts no sequence parallelism,
    which is why sequence parallelism first failed on a CPU), although the norm itself is per token.
    The same `torch.nn.RMSNorm`, with its weight marked `sequence_parallel` so megatron all-reduces
    its gradient over the tensor-parallel ranks (`finalize_model_grads`), does the job; the weights
    and checkpoint keys are those of the plain norm. Returns a block spec (the final norm too)."""
    import torch
    from megatron.core.transformer.spec_utils import ModuleSpec
    from megatron.core.transformer.transformer_block import (TransformerBlock, TransformerBlockSubmodules,
                                                             get_num_layers_to_build)

    class SequenceParallelRMSNorm(torch.nn.RMSNorm):
        def __init__(self, config, hidden_size: int, eps: float = 1e-5, **_):
            super().__init__(normalized_shape=hidden_size, eps=eps)
            self.weight.sequence_parallel = config.sequence_parallel

    sub = dataclasses.replace(spec.submodules, input_layernorm=SequenceParallelRMSNorm,
                              pre_mlp_layernorm=SequenceParallelRMSNorm)
    layer = dataclasses.replace(spec, submodules=sub)
    n = get_num_layers_to_build(config)
    return ModuleSpec(module=TransformerBlock, submodules=TransformerBlockSubmodules(
        layer_specs=[layer] * n, layer_norm=SequenceParallelRMSNorm))


def _arbitrary_mask(spec):
    from megatron.core.transformer.enums import AttnMaskType
    attention = spec.submodules.self_attention
    attention = dataclasses.replace(attention, params={**attention.params, "attn_mask_type": AttnMaskType.arbitrary})
    return dataclasses.replace(spec, submodules=dataclasses.replace(spec.submodules, self_attention=attention))


def build_model(m: ModelConfig, vocab_size: int, max_seq: int, tp: int, pp: int, rt, seed: int = 1234,
                packed: bool = False, recompute: str = "none", sequence_parallel: bool = False):
    """One `GPTModel` chunk for this pipeline stage (no virtual pipeline), on `rt.device`.

    `packed`: self-attention takes the mask it is given (`AttnMaskType.arbitrary`; the trainer passes
    a block-diagonal causal one) instead of its built-in causal mask, which the fused kernels and
    TransformerEngine apply while ignoring any mask passed in. The weights are the same either way."""
    import torch
    from megatron.core import parallel_state as ps
    from megatron.core.models.gpt import GPTModel
    from megatron.core.models.gpt.gpt_layer_specs import (get_gpt_layer_local_spec,
                                                          get_gpt_layer_with_transformer_engine_spec)

    config = transformer_config(m, tp, pp, rt, recompute, sequence_parallel)
    spec = (get_gpt_layer_with_transformer_engine_spec() if rt.use_te
            else get_gpt_layer_local_spec(normalization="RMSNorm"))
    if packed:
        spec = _arbitrary_mask(spec)
    spec = _pp_invariant_init(spec, seed)
    if config.sequence_parallel and not rt.use_te:   # the TE spec's fused norms handle it themselves
        spec = _sequence_parallel_norms(spec, config)
    torch.manual_seed(seed)   # the embedding is built first, from this state, on every layout
    model = GPTModel(config, spec, vocab_size=vocab_size, max_sequence_length=max(max_seq, m.max_position_embeddings),
                     pre_process=ps.is_pipeline_first_stage(), post_process=ps.is_pipeline_last_stage(),
                     parallel_output=True, share_embeddings_and_output_weights=False,
                     position_embedding_type="rope", rotary_base=int(m.rotary_base),
                     seq_len_interpolation_factor=m.rope_scaling_factor)
    return model.to(rt.device)


def matmul_params(m: ModelConfig, vocab_size: int) -> int:
    """Parameters that take part in a matmul per token (all but the input embedding and norms)."""
    h, d, nh, ng = m.hidden_size, m.head_dim, m.num_attention_heads, m.query_groups
    per_layer = h * (nh + 2 * ng) * d + nh * d * h + 3 * h * m.ffn_hidden_size
    return m.num_layers * per_layer + h * vocab_size


def total_params(m: ModelConfig, vocab_size: int) -> int:
    return matmul_params(m, vocab_size) + vocab_size * m.hidden_size + (2 * m.num_layers + 1) * m.hidden_size


def flops_per_token(m: ModelConfig, vocab_size: int, seq_length: int) -> float:
    """Training FLOPs per token, PaLM's convention (appendix B): 6N for the matmuls (forward 2N,
    backward 4N) plus 12·L·H·T for attention scores and values, with no discount for the causal mask."""
    return 6.0 * matmul_params(m, vocab_size) + 12.0 * m.num_layers * m.num_attention_heads * m.head_dim * seq_length
