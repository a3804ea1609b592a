"""megatron-core GPTModel <-> HuggingFace `LlamaForCausalLM` (shared/megatron-hf-mapping.md).

A rename plus two reshapes: QKV is interleaved per query group (`[q_0..q_{nh/ng-1}, k, v] × ng`),
fc1 is `[gate; up]`. No q/k rotary permutation (megatron's RoPE is HF's `rotate_half`). Vocabulary
padding rows are dropped on export and zero-filled on import. Only gathered TP=1/PP=1 state dicts
are converted: a checkpoint at any TP/PP is first loaded into a TP=1 model (bit-exact).

    python -m stages.train.hf_adapter import JOB.json   # HF folder -> model-only dist checkpoint
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Optional

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
        raise ValueError(f"unsupported RoPE scaling {rope_type!r} (DeepSeek-Coder uses linear)")
    heads = config["num_attention_heads"]
    kv = config.get("num_key_value_heads") or heads
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    if config.get("tie_word_embeddings"):
        raise ValueError("tied embeddings are not supported (DeepSeek-Coder is untied)")
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
            raise ValueError(f"HF vocabulary {w.shape[0]} exceeds the model's {padded_vocab}")
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


# ----------------------------------------------------------------------------- files
def read_hf_weights(folder: Path) -> dict:
    """All tensors of a HF checkpoint folder: `*.safetensors` (sharded or not) or `pytorch_model*.bin`."""
    import torch
    folder = Path(folder)
    files = sorted(folder.glob("*.safetensors"))
    out = {}
    if files:
        from safetensors.torch import load_file
        for fpath in files:
            out.update(load_file(str(fpath)))
        return out
    files = sorted(folder.glob("pytorch_model*.bin"))
    if not files:
        raise FileNotFoundError(f"{folder}: no *.safetensors or pytorch_model*.bin")
    for fpath in files:
        out.update(torch.load(fpath, map_location="cpu", weights_only=True))
    return out


def write_hf_weights(tensors: dict, out: Path, max_shard_bytes: int = 5 << 30) -> None:
    """safetensors, split into `model-0000i-of-0000n.safetensors` + index above `max_shard_bytes`."""
    from safetensors.torch import save_file
    shards, cur, size = [], {}, 0
    for k, v in tensors.items():
        nbytes = v.numel() * v.element_size()
        if cur and size + nbytes > max_shard_bytes:
            shards.append(cur)
            cur, size = {}, 0
        cur[k], size = v, size + nbytes
    shards.append(cur)
    if len(shards) == 1:
        save_file(shards[0], str(out / "model.safetensors"), metadata={"format": "pt"})
        return
    index = {"metadata": {"total_size": sum(v.numel() * v.element_size() for v in tensors.values())},
             "weight_map": {}}
    for i, shard in enumerate(shards):
        name = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, str(out / name), metadata={"format": "pt"})
        index["weight_map"].update({k: name for k in shard})
    (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=1))


def _special_ids(tokenizer_dir: Optional[Path]) -> tuple[Optional[int], Optional[int]]:
    if tokenizer_dir is None:
        return None, None
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    cfg = {}
    if (tokenizer_dir / "tokenizer_config.json").exists():
        cfg = json.loads((tokenizer_dir / "tokenizer_config.json").read_text())

    def tid(key, fallbacks):
        name = cfg.get(key)
        name = name.get("content") if isinstance(name, dict) else name
        for n in ([name] if name else []) + list(fallbacks):
            if tok.token_to_id(n) is not None:
                return tok.token_to_id(n)
        return None
    return (tid("bos_token", ["<｜begin▁of▁sentence｜>", "<s>"]),
            tid("eos_token", ["<｜end▁of▁sentence｜>", "</s>", "<|endoftext|>"]))


# ----------------------------------------------------------------------------- megatron side
def _single_process_model(m: ModelConfig, seed: int = 1234):
    """A TP=1/PP=1 GPTModel in this process (world size 1), fp32 on the CPU or GPU."""
    from .launch import init_runtime
    from .model import build_model
    rt = init_runtime(1, 1, seed, bf16=False, use_te=False)
    return build_model(m, m.vocab_size, m.max_position_embeddings, 1, 1, rt), rt


def export_hf(checkpoint: Path, out: Path, dtype: str = "bfloat16") -> Path:
    """Write `out/` as a HF Llama checkpoint (safetensors, config.json, tokenizer, generation_config)."""
    import torch
    from . import checkpoint as ck
    from .launch import shutdown

    path = ck.resolve_checkpoint(checkpoint)
    meta = ck.read_meta(path)
    m = ModelConfig(**meta["model"])
    hf_vocab = m.hf_vocab_size or m.vocab_size
    model, _ = _single_process_model(m)
    try:
        ck.load_model_weights(path, model)
        tensors = to_hf(model.state_dict(), m, hf_vocab)
    finally:
        shutdown()
    torch_dtype = {"bfloat16": torch.bfloat16, "float32": torch.float32, "float16": torch.float16}[dtype]
    tensors = {k: v.to("cpu", torch_dtype).contiguous() for k, v in tensors.items()}
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    write_hf_weights(tensors, tmp)
    tok_dir = ck.find_tokenizer_for(path)
    bos, eos = _special_ids(tok_dir)
    (tmp / "config.json").write_text(json.dumps(hf_config(m, hf_vocab, bos, eos, dtype), indent=1))
    (tmp / "generation_config.json").write_text(json.dumps({"bos_token_id": bos, "eos_token_id": eos}, indent=1))
    if tok_dir is not None:
        for fpath in tok_dir.iterdir():
            if fpath.is_file():
                shutil.copy2(fpath, tmp / fpath.name)
    (tmp / "dscoder_export.json").write_text(json.dumps({"checkpoint": str(path), "step": meta.get("step")}))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out


def import_hf(hf_path: Path, out: Path, m: ModelConfig) -> Path:
    """HF folder -> model-only distributed checkpoint at `out` (loadable at any TP/PP)."""
    import torch
    from megatron.core import dist_checkpointing
    from . import checkpoint as ck
    from .launch import shutdown

    hf = read_hf_weights(Path(hf_path))
    model, rt = _single_process_model(m)
    try:
        sd = {k: v.to(torch.float32) for k, v in from_hf(hf, m, m.vocab_size).items()}
        ck._load_into(model, sd)
        tmp = Path(out).with_name(Path(out).name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        ck._use_in_process_results_queue()
        dist_checkpointing.save({"model": model.sharded_state_dict(prefix="")}, str(tmp))
        (tmp / ck.MARKER).write_text(json.dumps({"format": "dscoder-megatron-1", "stage": "hf-import", "step": 0,
                                                 "tp": 1, "pp": 1, "world_size": 1, "source": str(hf_path),
                                                 "model": asdict(m)}, indent=1))
        if Path(out).exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        shutdown()
    return Path(out)


def megatron_logits(checkpoint: Path, tokens):
    """Logits [b, s, vocab] of a checkpoint's model (TP=1, this process) on `tokens` [b, s]."""
    import torch
    from . import checkpoint as ck
    from .launch import shutdown
    path = ck.resolve_checkpoint(checkpoint)
    m = ModelConfig(**ck.read_meta(path)["model"])
    model, rt = _single_process_model(m)
    try:
        ck.load_model_weights(path, model)
        model.eval()
        tokens = tokens.to(rt.device)
        pos = torch.arange(tokens.shape[1], device=rt.device).unsqueeze(0).expand_as(tokens)
        with torch.no_grad():
            return model(tokens, pos, None).float().cpu()
    finally:
        shutdown()


if __name__ == "__main__":   # `python -m stages.train.hf_adapter import JOB.json` (the trainer's subprocess)
    if len(sys.argv) != 3 or sys.argv[1] != "import":
        sys.exit("usage: python -m stages.train.hf_adapter import JOB.json")
    job = json.loads(Path(sys.argv[2]).read_text())
    import_hf(Path(job["hf"]), Path(job["out"]), ModelConfig(**job["model"]))
