"""Training configs for the stages that start from a trained model: extend-context (paper §3.4) and
instruct (paper §3.5). Both run the one trainer (`trainer.py`); only the `TrainConfig` differs.

- extend-context: the checkpoint's model with RoPE base 10,000 -> 100,000 and linear position
  interpolation x4, sequence 16K, 1000 steps at batch 512, LR held (`constant`) at the checkpoint's
  final LR; the optimizer state is kept (the paper continues training), `fresh_optimizer` drops it.
- instruct: a dscoder checkpoint or a HuggingFace folder (a released DeepSeek-Coder base model, or
  any Llama-layout model: a tokenizer without `<|EOT|>` gets it added, its embedding and output
  rows starting from the mean embedding), JSONL/Parquet instruction records (`instruct_data.py`),
  LR 1e-5, cosine, 100 warm-up steps, batches of 4M tokens; fresh optimizer.

A START is a training OUTPUT (its newest checkpoint), one checkpoint folder, or (instruct) a HF folder.
The paper's values are the defaults of `ExtendContextOptions` and `InstructOptions` (config.py).
docs/extend-context.md, docs/instruct.md.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from stages.core.errors import UsageError

from . import checkpoint as ckpt_mod
from .config import (ExtendContextOptions, InstructOptions, MissingFile, ModelConfig, TrainConfig, TrainRunOptions,
                     blend_weights)
from .distributed import planned_world_size


@dataclass
class StartPoint:
    kind: str                          # checkpoint | hf
    path: Path                         # the checkpoint folder, or the HF folder
    model: ModelConfig
    tokenizer: Optional[Path]
    meta: dict
    source_config: Optional[TrainConfig]   # the config.yaml of the run that wrote the checkpoint


def is_hf_folder(path: Path) -> bool:
    path = Path(path)
    return (path / "config.json").is_file() and (any(path.glob("*.safetensors")) or any(path.glob("pytorch_model*.bin")))


def resolve_start(path: Path, allow_hf: bool = True) -> StartPoint:
    path = Path(path)
    if not path.exists():
        raise MissingFile(f"{path}: no such checkpoint")
    if is_hf_folder(path) and not (path / ckpt_mod.MARKER).exists():
        if not allow_hf:
            raise UsageError(f"{path} is a HuggingFace folder; this stage needs a dscoder checkpoint "
                             "(with its optimizer state)")
        from .hf_mapping import model_config_from_hf
        m = model_config_from_hf(json.loads((path / "config.json").read_text()))
        tok = path if (path / "tokenizer.json").exists() else None
        return StartPoint("hf", path.resolve(), m, tok, {}, None)
    ckpt = ckpt_mod.resolve_checkpoint(path).resolve()
    meta = ckpt_mod.read_meta(ckpt)
    run_cfg = ckpt.parent.parent / "config.yaml"
    source = TrainConfig.load(run_cfg) if run_cfg.exists() else None
    return StartPoint("checkpoint", ckpt, ModelConfig(**meta["model"]), ckpt_mod.find_tokenizer_for(ckpt), meta,
                      source)


def final_lr(start: StartPoint) -> Optional[float]:
    """The LR of the checkpoint's last step: recorded in its dscoder.json, else recomputed from its
    run's config.yaml (checkpoints written before the LR was recorded)."""
    if "lr" in start.meta:
        return float(start.meta["lr"])
    if start.source_config is not None and start.meta.get("step"):
        from .optim import lr_at
        return lr_at(int(start.meta["step"]) - 1, start.source_config)
    return None


def _optimizer_settings(source: Optional[TrainConfig]) -> dict:
    keys = ("adam_beta1", "adam_beta2", "adam_eps", "weight_decay", "clip_grad")
    return {k: getattr(source, k) for k in keys} if source is not None else {}


def _same_tokenizer(a: Optional[Path], b: Optional[Path]) -> bool:
    if a is None or b is None:
        return True
    return (Path(a) / "tokenizer.json").read_bytes() == (Path(b) / "tokenizer.json").read_bytes()


def extend_context_config(checkpoint: Path, data: list[str], output: Path, options: ExtendContextOptions,
                          run: TrainRunOptions) -> TrainConfig:
    """The extension's config: the checkpoint's model with the RoPE of `options`, LR held."""
    from .data import find_tokenizer
    from .trainer import resolve_vocab

    o = options
    start = resolve_start(checkpoint, allow_hf=False)
    if not _same_tokenizer(start.tokenizer, find_tokenizer(data)):
        raise UsageError(f"DATA was tokenized with another tokenizer than the checkpoint's ({start.tokenizer})")
    if o.rope_scale < 1:
        raise UsageError("--rope-scale must be at least 1 (1: no position interpolation)")
    lr = o.lr if o.lr is not None else final_lr(start)
    if lr is None:
        raise UsageError(f"{start.path}: its final LR is unknown (no dscoder.json lr, no run config.yaml); pass --lr")
    if not lr > 0:
        raise UsageError(f"{start.path}: its final LR is {lr} (nothing would be learned at it); pass --lr")
    m = dataclasses.replace(start.model, rotary_base=float(o.rope_base),
                            rope_scaling_factor=float(o.rope_scale) if o.rope_scale != 1 else None,
                            max_position_embeddings=max(o.seq_length, start.model.max_position_embeddings))
    cfg = TrainConfig(
        data=[str(Path(d).resolve()) for d in data], output=str(Path(output).resolve()), model=m,
        model_name=start.source_config.model_name if start.source_config else "custom",
        data_weights=blend_weights(o.data_weights), steps=o.steps, warmup_steps=o.warmup_steps,
        seq_length=o.seq_length, global_batch=o.global_batch, micro_batch=o.micro_batch, lr=lr,
        lr_schedule="constant", lr_milestones=[], save_interval=o.save_interval,
        init_from_checkpoint=str(start.path), init_optimizer=not o.fresh_optimizer, stage="extend-context",
        **_optimizer_settings(start.source_config), **run.train_fields())
    return resolve_vocab(cfg)


def batch_from_tokens(batch_tokens: int, seq_length: int, micro_batch: int, dp: int) -> int:
    """Sequences per step for a batch of about `batch_tokens` tokens, a multiple of micro_batch x dp."""
    unit = micro_batch * dp
    return max(unit, (batch_tokens // seq_length) // unit * unit)


def instruct_config(checkpoint: Path, data: list[str], output: Path, options: InstructOptions,
                    run: TrainRunOptions) -> tuple[TrainConfig, dict, object]:
    """The config, the data statistics (records, examples, sequences, ...) it was sized from, and the
    datasets themselves ((train, valid, note): a trainer in this process takes them instead of
    tokenizing the records again)."""
    from .data import TokenizerInfo
    from .instruct_data import build_instruct_datasets, chat_tokens_to_add, data_files
    from .trainer import resolve_vocab

    o = options
    data_files(data)   # fail early on a bad DATA path
    if run.valid_data is not None:
        data_files([str(run.valid_data)])
    start = resolve_start(checkpoint)
    tok_dir = Path(o.tokenizer) if o.tokenizer else start.tokenizer
    if tok_dir is None or not (Path(tok_dir) / "tokenizer.json").exists():
        raise UsageError(f"{checkpoint}: no tokenizer found with the checkpoint; pass --tokenizer")
    tok_info = TokenizerInfo.load(Path(tok_dir))
    added = chat_tokens_to_add(Path(tok_dir))
    if added and not o.add_chat_tokens:
        raise UsageError(f"{tok_dir}: the tokenizer has no <|EOT|> token, which ends every response of the "
                         "instruct template; drop --no-add-chat-tokens to add it")
    m = dataclasses.replace(start.model, max_position_embeddings=max(o.seq_length, start.model.max_position_embeddings))
    if added:
        # export-hf writes every row up to the new tokens
        m.hf_vocab_size = max(m.hf_vocab_size or 0, max(added.values()) + 1)
        if m.vocab_size is not None and m.vocab_size <= max(added.values()):
            raise UsageError(f"{start.path}: its embedding has {m.vocab_size} rows, no room for {sorted(added)}; "
                             "export it with `dscoder export-hf` and instruct from the HF folder (resized there)")
    dp = max(1, planned_world_size(run.nproc) // (run.tp * run.pp))
    global_batch = o.global_batch
    if global_batch is None:
        global_batch = batch_from_tokens(o.batch_tokens, o.seq_length, o.micro_batch, dp)
    cfg = TrainConfig(
        data=[str(Path(d).resolve()) for d in data], output=str(Path(output).resolve()), model=m,
        model_name=start.source_config.model_name if start.source_config else "custom",
        steps=1, warmup_steps=o.warmup_steps, seq_length=o.seq_length, global_batch=global_batch,
        micro_batch=o.micro_batch, lr=o.lr, min_lr_ratio=o.min_lr_ratio, lr_schedule="cosine", lr_milestones=[],
        save_interval=o.save_interval,
        init_from_checkpoint=str(start.path) if start.kind == "checkpoint" else None,
        init_from_hf=str(start.path) if start.kind == "hf" else None,
        stage="instruct", data_format="instruct", tokenizer=str(Path(tok_dir).resolve()), pack_sequences=o.pack,
        added_tokens=added, mean_init_rows=tok_info.vocab_size if added else None,
        **run.train_fields())
    datasets = build_instruct_datasets(cfg, Path(tok_dir), tok_info.eod, cfg.eval_interval > 0)
    train = datasets[0]
    cfg.steps = o.steps if o.steps is not None else max(1, math.ceil(o.epochs * train.num_sequences / global_batch))
    stats = dict(train.stats.as_dict(), steps=cfg.steps, global_batch=global_batch)
    if added:
        stats["added_tokens"] = added
    return resolve_vocab(cfg), stats, datasets
