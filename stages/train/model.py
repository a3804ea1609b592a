"""megatron-core `GPTModel` for a `ModelConfig`, on the runtime's device and spec; FLOPs per token."""

from __future__ import annotations

import dataclasses
import functools
import math
import os

from .config import ModelConfig

# Core attention of megatron's local spec: `sdpa` (torch's scaled_dot_product_attention: flash /
# memory-efficient kernels) or `unfused` (megatron's DotProductAttention, which materialises the
# [b, heads, s, s] scores: 24 GiB per layer for one 16K sequence). Default: sdpa on GPUs, unfused
# on a CPU (the path CI verifies). TransformerEngine's spec brings its own fused attention.
LOCAL_ATTENTION_ENV = "DSCODER_LOCAL_ATTENTION"


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


def local_attention(rt) -> str:
    """`sdpa` or `unfused` for a local-spec model on this runtime (`LOCAL_ATTENTION_ENV` overrides)."""
    choice = os.environ.get(LOCAL_ATTENTION_ENV) or ("sdpa" if rt.cuda else "unfused")
    if choice not in ("sdpa", "unfused"):
        raise ValueError(f"${LOCAL_ATTENTION_ENV} must be sdpa or unfused, not {choice!r}")
    return choice


def layer_spec_name(rt) -> str:
    """What a model built on `rt` runs: `te` (TransformerEngine spec), `local-sdpa` or `local-unfused`."""
    return "te" if rt.use_te else f"local-{local_attention(rt)}"


@functools.lru_cache(maxsize=None)
def sdpa_attention():
    """megatron's `DotProductAttention` contract (query/key/value [s, b, heads, d] -> [s, b, heads·d],
    megatron masks: True = cut) computed by `torch.nn.functional.scaled_dot_product_attention`, which
    never materialises the scores. Same parameters (none) and checkpoint keys as the unfused module."""
    import torch
    from megatron.core.transformer.dot_product_attention import DotProductAttention
    from megatron.core.transformer.enums import AttnMaskType

    class SDPAttention(DotProductAttention):
        def __init__(self, config, *args, **kwargs):
            super().__init__(config, *args, **kwargs)
            if config.softmax_type != "vanilla" or self.scale_mask_softmax.window_size is not None:
                raise ValueError("SDPA attention supports vanilla softmax without a window only")

        def forward(self, query, key, value, attention_mask, attn_mask_type=None, attention_bias=None,
                    packed_seq_params=None):
            assert packed_seq_params is None and attention_bias is None, "not supported by the local spec"
            q, k, v = (t.permute(1, 2, 0, 3) for t in (query, key, value))   # [b, heads, s, d]
            groups = self.num_attention_heads_per_partition // self.num_query_groups_per_partition
            if groups > 1:
                k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
            mask_type = attn_mask_type if attn_mask_type is not None else self.attn_mask_type
            # As FusedScaleMaskSoftmax: a causal module without a mask uses the causal one; a mask given wins.
            causal = mask_type == AttnMaskType.causal and attention_mask is None and q.size(2) > 1
            mask = None if attention_mask is None else ~attention_mask
            scale = self.softmax_scale * (self.layer_number if self.config.apply_query_key_layer_scaling else 1)
            # Dropout (0 in every preset) draws from the default generator, not megatron's RNG tracker.
            out = torch.nn.functional.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=self.attention_dropout.p if self.training else 0.0,
                is_causal=causal, scale=scale)
            return out.permute(2, 0, 1, 3).reshape(query.size(0), query.size(1), self.hidden_size_per_partition)

    return SDPAttention


def _with_core_attention(spec, module):
    attention = spec.submodules.self_attention
    inner = dataclasses.replace(attention.submodules, core_attention=module)
    attention = dataclasses.replace(attention, submodules=inner)
    return dataclasses.replace(spec, submodules=dataclasses.replace(spec.submodules, self_attention=attention))


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
    if not rt.use_te and local_attention(rt) == "sdpa":
        spec = _with_core_attention(spec, sdpa_attention())
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
    model.dscoder_layer_spec = layer_spec_name(rt)   # recorded in checkpoints and by `make gpu-check`
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
