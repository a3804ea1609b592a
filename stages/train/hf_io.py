"""HuggingFace Llama folders in and out: `export_hf` (any TP/PP checkpoint -> safetensors,
config.json, tokenizer) and `import_hf` (HF folder -> model-only distributed checkpoint), each in a
TP=1/PP=1 model of this process; the tensor mapping itself is `hf_mapping.py`'s. docs/pretrain.md#export-hf.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Optional

from stages.core.atomic import atomic_dir, write_json_atomic

from . import checkpoint as ck
from .config import ExportHFOptions, MissingFile, ModelConfig, TrainConfig
from .distributed import init_runtime, shutdown
from .hf_mapping import from_hf, hf_config, to_hf


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
        raise MissingFile(f"{folder}: no *.safetensors or pytorch_model*.bin")
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
    from .model import build_model
    rt = init_runtime(1, 1, seed, bf16=False, use_te=False)
    return build_model(m, m.vocab_size, m.max_position_embeddings, 1, 1, rt), rt


def export_hf(checkpoint: Path, out: Path, dtype: str = ExportHFOptions.dtype) -> Path:
    """Write `out/` as a HF Llama checkpoint (safetensors, config.json, tokenizer, generation_config)."""
    import torch

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
    with atomic_dir(out) as tmp:
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
    return out


def import_hf(hf_path: Path, out: Path, m: ModelConfig) -> Path:
    """HF folder -> model-only distributed checkpoint at `out` (loadable at any TP/PP)."""
    import torch
    from megatron.core import dist_checkpointing

    hf = read_hf_weights(Path(hf_path))
    model, rt = _single_process_model(m)
    try:
        sd = {k: v.to(torch.float32) for k, v in from_hf(hf, m, m.vocab_size).items()}
        ck._load_into(model, sd)
        with atomic_dir(Path(out)) as tmp:
            ck._use_in_process_results_queue()
            dist_checkpointing.save({"model": model.sharded_state_dict(prefix="")}, str(tmp))
            (tmp / ck.MARKER).write_text(json.dumps({"format": "dscoder-megatron-1", "stage": "hf-import", "step": 0,
                                                     "tp": 1, "pp": 1, "world_size": 1, "source": str(hf_path),
                                                     "model": asdict(m)}, indent=1))
    finally:
        shutdown()
    return Path(out)


def import_hf_in_subprocess(hf_path: Path, target: Path, cfg: TrainConfig) -> None:
    """HF -> megatron happens at TP=1/PP=1 in a fresh single process (the verified path), written as
    a distributed checkpoint that every rank of this job then loads at its own TP/PP."""
    job = target.with_name(target.name + ".job.json")
    write_json_atomic(job, {"kind": "hf-import", "hf": str(hf_path), "out": str(target), "model": asdict(cfg.model)})
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
           and not k.startswith("SLURM_")}
    subprocess.run([sys.executable, "-m", "stages.train.launch", str(job)], env=env, check=True)


def megatron_logits(checkpoint: Path, tokens):
    """Logits [b, s, vocab] of a checkpoint's model (TP=1, this process) on `tokens` [b, s]."""
    import torch
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


def megatron_greedy(checkpoint: Path, prompt: list[int], new_tokens: int) -> tuple[list[int], "object"]:
    """Greedy continuation of `prompt` by a checkpoint's megatron model (TP=1, fp32, this process; the
    whole sequence each step, no KV cache), over the exported vocabulary only (padding rows are
    dropped by export-hf). Returns the new tokens and the logits [1, s, vocab] of the final sequence."""
    import torch
    path = ck.resolve_checkpoint(checkpoint)
    m = ModelConfig(**ck.read_meta(path)["model"])
    vocab = m.hf_vocab_size or m.vocab_size
    model, rt = _single_process_model(m)
    try:
        ck.load_model_weights(path, model)
        model.eval()
        ids = list(prompt)
        with torch.no_grad():
            for step in range(new_tokens + 1):
                tokens = torch.tensor([ids], device=rt.device)
                pos = torch.arange(len(ids), device=rt.device).unsqueeze(0)
                logits = model(tokens, pos, None)[..., :vocab]
                if step < new_tokens:
                    ids.append(int(logits[0, -1].argmax()))
        return ids[len(prompt):], logits[:, :-1].float().cpu()
    finally:
        del model
        shutdown()
