"""megatron-core GPTModel <-> HuggingFace `LlamaForCausalLM`: the tensor and config mapping,
pure (no files, no process groups; those are `hf_io.py`'s). docs/pretrain.md#export-hf.

A rename plus two reshapes: QKV is interleaved per query group (`[q_0..q_{nh/ng-1}, k, v] × ng`),
fc1 is `[gate; up]`. No q/k rotary permutation (megatron's RoPE is HF's `rotate_half`). Vocabulary
padding rows are dropped on export and zero-filled on import. Only gathered TP=1/PP=1 state dicts
are converted: a checkpoint at any TP/PP is first loaded into a TP=1 model (bit-exact).
"""

from __future__ import annotations

from typing import Optional

from stages.core.errors import UsageError

from .config import ModelConfig

_LAYER = "decoder.layers."
# local-spec name -> TE-spec / dist-checkpoint name, for the two norms
_NORM_ALIASES = {"input_layernorm.weight": "self_attention.linear_qkv.layer_norm_weight",
                 "pre_mlp_layernorm.weight": "mlp.linear_fc1.layer_norm_weight"}


# ----------------------------------------------------------------------------- configs
def model_config_from_hf(config: dict) -> ModelConfig:
    """ModelConfig from a HF Llama `config.json` (transformers 4.x `rope_theta`/`rope_scaling` or
    5.x `rope_parameters`)."""
    rope = config.get("rope_parameters") or {}
    scaling = config.get("rope_scaling") or {}
    theta = rope.get("rope_theta", config.get("rope_theta", 10000.0))
    rope_type = rope.get("rope_type") or scaling.get("rope_type") or scaling.get("type") or "default"
    factor = rope.get("factor", scaling.get("factor"))
    if rope_type not in ("default", "linear"):
        raise UsageError(f"unsupported RoPE scaling {rope_type!r} (DeepSeek-Coder uses linear)")
    heads = config["num_attention_heads"]
    kv = config.get("num_key_value_heads") or heads
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    if config.get("tie_word_embeddings"):
        raise UsageError("tied embeddings are not supported (DeepSeek-Coder is untied)")
    return ModelConfig(num_layers=config["num_hidden_layers"], hidden_size=config["hidden_size"],
                       num_attention_heads=heads, ffn_hidden_size=config["intermediate_size"],
                       num_query_groups=None if kv == heads else kv,
                       kv_channels=None if head_dim == config["hidden_size"] // heads else head_dim,
                       vocab_size=None, hf_vocab_size=config["vocab_size"], norm_eps=config.get("rms_norm_eps", 1e-6),
                       rotary_base=float(theta), rope_scaling_factor=float(factor) if rope_type == "linear" else None,
                       max_position_embeddings=config.get("max_position_embeddings", 16384))


def hf_config(m: ModelConfig, vocab_size: int, bos: Optional[int], eos: Optional[int], dtype: str) -> dict:
    """config.json for `LlamaForCausalLM`: the 5.x `rope_parameters` plus the 4.x `rope_theta` /
    `rope_scaling` keys, so both generations of transformers read it."""
    rope_parameters = {"rope_type": "default", "rope_theta": float(m.rotary_base)}
    rope_scaling = None
    if m.rope_scaling_factor:
        rope_parameters = {"rope_type": "linear", "factor": float(m.rope_scaling_factor),
                           "rope_theta": float(m.rotary_base)}
        rope_scaling = {"type": "linear", "rope_type": "linear", "factor": float(m.rope_scaling_factor)}
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": vocab_size, "hidden_size": m.hidden_size, "intermediate_size": m.ffn_hidden_size,
        "num_hidden_layers": m.num_layers, "num_attention_heads": m.num_attention_heads,
        "num_key_value_heads": m.query_groups, "head_dim": m.head_dim, "hidden_act": "silu",
        "rms_norm_eps": m.norm_eps, "max_position_embeddings": m.max_position_embeddings,
        "initializer_range": m.init_method_std, "tie_word_embeddings": False,
        "attention_bias": False, "mlp_bias": False, "attention_dropout": 0.0, "use_cache": True,
        "rope_theta": float(m.rotary_base), "rope_scaling": rope_scaling, "rope_parameters": rope_parameters,
        "bos_token_id": bos, "eos_token_id": eos, "torch_dtype": dtype, "dtype": dtype,
    }


# ----------------------------------------------------------------------------- weights
def unstack_plain_tensors(pt: dict) -> dict:
    """`dist_checkpointing.load_plain_tensors` output: per-layer weights stacked as
    `decoder.layers.<name>` [L, ...] -> `decoder.layers.<i>.<name>`."""
    out = {}
    for k, v in pt.items():
        if k.startswith(_LAYER) and not k[len(_LAYER)].isdigit():
            for i in range(v.shape[0]):
                out[f"{_LAYER}{i}.{k[len(_LAYER):]}"] = v[i]
        else:
            out[k] = v
    return out


def to_hf(sd: dict, m: ModelConfig, hf_vocab: int) -> dict:
    """Megatron TP=1/PP=1 state dict (local-spec or TE/dist-checkpoint names) -> HF Llama tensors."""
    nh, ng, d, h, f = m.num_attention_heads, m.query_groups, m.head_dim, m.hidden_size, m.ffn_hidden_size
    hq = nh // ng

    def get(name):
        if name in sd:
            return sd[name]
        for local, te in _NORM_ALIASES.items():
            if name.endswith(local) and name.replace(local, te) in sd:
                return sd[name.replace(local, te)]
        raise KeyError(name)

    out = {"model.embed_tokens.weight": get("embedding.word_embeddings.weight")[:hf_vocab],
           "model.norm.weight": get("decoder.final_layernorm.weight"),
           "lm_head.weight": get("output_layer.weight")[:hf_vocab]}
    for i in range(m.num_layers):
        p, q = f"{_LAYER}{i}.", f"model.layers.{i}."
        w = get(p + "self_attention.linear_qkv.weight").view(ng, hq + 2, d, h)
        out[q + "self_attn.q_proj.weight"] = w[:, :hq].reshape(nh * d, h)
        out[q + "self_attn.k_proj.weight"] = w[:, hq].reshape(ng * d, h)
        out[q + "self_attn.v_proj.weight"] = w[:, hq + 1].reshape(ng * d, h)
        out[q + "self_attn.o_proj.weight"] = get(p + "self_attention.linear_proj.weight")
        out[q + "input_layernorm.weight"] = get(p + "input_layernorm.weight")
        out[q + "post_attention_layernorm.weight"] = get(p + "pre_mlp_layernorm.weight")
        fc1 = get(p + "mlp.linear_fc1.weight")
        out[q + "mlp.gate_proj.weight"], out[q + "mlp.up_proj.weight"] = fc1[:f], fc1[f:]
        out[q + "mlp.down_proj.weight"] = get(p + "mlp.linear_fc2.weight")
    return {k: v.detach().clone().contiguous() for k, v in out.items()}


def from_hf(hf: dict, m: ModelConfig, padded_vocab: int) -> dict:
    """HF Llama tensors -> megatron local-spec TP=1/PP=1 state dict (fp32 unless given otherwise)."""
    import torch
    nh, ng, d, h = m.num_attention_heads, m.query_groups, m.head_dim, m.hidden_size
    hq = nh // ng

    def pad(w):
        if w.shape[0] > padded_vocab:
            raise UsageError(f"HF vocabulary {w.shape[0]} exceeds the model's {padded_vocab}")
        return torch.cat([w, w.new_zeros(padded_vocab - w.shape[0], w.shape[1])]) if w.shape[0] < padded_vocab else w

    out = {"embedding.word_embeddings.weight": pad(hf["model.embed_tokens.weight"]),
           "decoder.final_layernorm.weight": hf["model.norm.weight"],
           "output_layer.weight": pad(hf["lm_head.weight"])}
    for i in range(m.num_layers):
        p, q = f"{_LAYER}{i}.", f"model.layers.{i}."
        qw = hf[q + "self_attn.q_proj.weight"].view(ng, hq, d, h)
        kw = hf[q + "self_attn.k_proj.weight"].view(ng, 1, d, h)
        vw = hf[q + "self_attn.v_proj.weight"].view(ng, 1, d, h)
        out[p + "self_attention.linear_qkv.weight"] = torch.cat([qw, kw, vw], 1).reshape(-1, h)
        out[p + "self_attention.linear_proj.weight"] = hf[q + "self_attn.o_proj.weight"]
        out[p + "input_layernorm.weight"] = hf[q + "input_layernorm.weight"]
        out[p + "pre_mlp_layernorm.weight"] = hf[q + "post_attention_layernorm.weight"]
        out[p + "mlp.linear_fc1.weight"] = torch.cat([hf[q + "mlp.gate_proj.weight"], hf[q + "mlp.up_proj.weight"]], 0)
        out[p + "mlp.linear_fc2.weight"] = hf[q + "mlp.down_proj.weight"]
    return out
