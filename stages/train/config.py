"""Model presets (paper Table 2) and the training configuration, both plain dataclasses.

The resolved `TrainConfig` is written to OUTPUT/config.yaml; a re-run on the same OUTPUT compares
the options that change the result (`IDENTITY_EXEMPT` lists the ones that may differ: parallel
layout, logging and checkpoint cadence) and resumes, or refuses with the changed options named.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Optional

import yaml


@dataclass
class ModelConfig:
    """A LLaMA-style decoder (paper §3.3): RMSNorm, SwiGLU, RoPE, no biases, untied embeddings."""

    num_layers: int
    hidden_size: int
    num_attention_heads: int
    ffn_hidden_size: int
    num_query_groups: Optional[int] = None      # None: multi-head attention; 8 for 33B (GQA)
    kv_channels: Optional[int] = None           # None: hidden / heads
    vocab_size: Optional[int] = None            # embedding rows; None: tokenizer size padded up
    vocab_pad_multiple: int = 128               # independent of TP, so checkpoints reshard
    hf_vocab_size: Optional[int] = None         # rows written by export-hf (tokenizer size, or the imported model's)
    norm_eps: float = 1e-6                      # megatron's default is 1e-5: DeepSeek-Coder uses 1e-6
    rotary_base: float = 10000.0
    rope_scaling_factor: Optional[float] = None  # linear position interpolation (extend-context: 4)
    max_position_embeddings: int = 16384
    init_method_std: float = 0.02

    @property
    def head_dim(self) -> int:
        return self.kv_channels or self.hidden_size // self.num_attention_heads

    @property
    def query_groups(self) -> int:
        return self.num_query_groups or self.num_attention_heads

    def validate(self, tp: int = 1, pp: int = 1) -> None:
        if self.num_attention_heads % self.query_groups:
            raise ValueError("num_attention_heads must be a multiple of num_query_groups")
        if self.num_attention_heads % tp or self.query_groups % tp:
            raise ValueError(f"--tp {tp} must divide the attention heads and query groups "
                             f"({self.num_attention_heads}, {self.query_groups})")
        if self.ffn_hidden_size % tp:
            raise ValueError(f"--tp {tp} must divide ffn_hidden_size {self.ffn_hidden_size}")
        if self.num_layers % pp:
            raise ValueError(f"--pp {pp} must divide num_layers {self.num_layers}")
        if self.vocab_size is not None and self.vocab_size % tp:
            raise ValueError(f"--tp {tp} must divide vocab_size {self.vocab_size}")


@dataclass
class Preset:
    model: ModelConfig
    max_lr: float
    global_batch: int      # sequences per step
    seq_length: int
    micro_batch: int = 1
    train_tokens: float = 2e12   # paper: 2T tokens; --steps defaults to this / (batch * seq)
    warmup_steps: int = 2000


# Paper Table 2 (sizes, heads, batch, max LR); vocabulary 32,000 + added tokens, padded to 32,256.
PRESETS: dict[str, Preset] = {
    "1.3b": Preset(ModelConfig(num_layers=24, hidden_size=2048, num_attention_heads=16, ffn_hidden_size=5504,
                               vocab_size=32256), max_lr=5.3e-4, global_batch=1024, seq_length=4096),
    "6.7b": Preset(ModelConfig(num_layers=32, hidden_size=4096, num_attention_heads=32, ffn_hidden_size=11008,
                               vocab_size=32256), max_lr=4.2e-4, global_batch=2304, seq_length=4096),
    "33b": Preset(ModelConfig(num_layers=62, hidden_size=7168, num_attention_heads=56, num_query_groups=8,
                              ffn_hidden_size=19200, vocab_size=32256),
                  max_lr=3.5e-4, global_batch=3840, seq_length=4096),
    # For laptops and CI: GQA on so the CPU tests exercise the grouped QKV layout.
    "tiny": Preset(ModelConfig(num_layers=4, hidden_size=128, num_attention_heads=4, num_query_groups=2,
                               ffn_hidden_size=352, max_position_embeddings=4096),
                   max_lr=3e-3, global_batch=16, seq_length=128, micro_batch=4, train_tokens=16 * 128 * 300,
                   warmup_steps=30),
}

_PRESET_KEYS = {"max_lr", "global_batch", "seq_length", "micro_batch", "train_tokens", "warmup_steps"}


def load_preset(name: Optional[str] = "tiny", model_config: Optional[Path] = None) -> Preset:
    """A named preset, or a YAML file of `ModelConfig` fields (plus optional preset fields and
    `base: <preset>` to start from one)."""
    if model_config is None:
        if name not in PRESETS:
            raise ValueError(f"unknown --model {name!r}; choose from {', '.join(PRESETS)}")
        return dataclasses.replace(PRESETS[name], model=dataclasses.replace(PRESETS[name].model))
    raw = yaml.safe_load(Path(model_config).read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{model_config}: expected a mapping of model settings")
    raw = dict(raw.get("model", {}), **{k: v for k, v in raw.items() if k != "model"})
    base = load_preset(raw.pop("base", name or "tiny"))
    preset_over = {k: raw.pop(k) for k in list(raw) if k in _PRESET_KEYS}
    known = {f.name for f in fields(ModelConfig)}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"{model_config}: unknown model settings {sorted(unknown)}")
    return dataclasses.replace(base, model=dataclasses.replace(base.model, **raw), **preset_over)


@dataclass
class TrainConfig:
    """Everything one training run needs; pretrain, extend-context and instruct fill it differently."""

    data: list[str]
    output: str
    model: ModelConfig
    model_name: str = "custom"
    data_weights: Optional[list[float]] = None
    steps: int = 1000
    warmup_steps: int = 2000
    seq_length: int = 4096
    global_batch: int = 1024
    micro_batch: int = 1
    lr: float = 5.3e-4
    min_lr_ratio: float = 0.1                 # paper: ends at 10% of max
    lr_schedule: str = "multistep"            # multistep (paper pretrain) | cosine (instruct) | constant
    lr_milestones: list[float] = field(default_factory=lambda: [0.8, 0.9])
    adam_beta1: float = 0.9
    adam_beta2: float = 0.95
    adam_eps: float = 1e-8
    weight_decay: float = 0.1
    clip_grad: float = 1.0
    save_interval: int = 1000
    keep_checkpoints: int = 3
    log_interval: int = 1
    seed: int = 1234
    tp: int = 1
    pp: int = 1
    bf16: bool = True                         # GPUs only: CPUs train in fp32
    use_transformer_engine: bool = True       # when it imports and CUDA is present
    distributed_optimizer: bool = False       # GPUs only (not usable on CPU)
    init_from_hf: Optional[str] = None
    init_from_checkpoint: Optional[str] = None  # model weights (extend-context and instruct start here)
    init_optimizer: bool = False              # also its optimizer state (extend-context continues training)
    peak_tflops: Optional[float] = None       # per device, for MFU; None: guessed from the hardware
    stage: str = "pretrain"                   # pretrain | extend-context | instruct (labels runs in reports)
    data_format: str = "tokens"               # tokens: `dscoder tokenize` folders | instruct: JSONL/Parquet records
    tokenizer: Optional[str] = None           # tokenizer folder; None: the DATA folders' tokenizer/
    pack_sequences: bool = False              # instruct: several examples per sequence

    def validate(self, world_size: int = 1) -> None:
        self.model.validate(self.tp, self.pp)
        if world_size % (self.tp * self.pp):
            raise ValueError(f"world size {world_size} is not a multiple of tp*pp = {self.tp * self.pp}")
        dp = world_size // (self.tp * self.pp)
        if self.global_batch % (self.micro_batch * dp):
            raise ValueError(f"--global-batch {self.global_batch} must be a multiple of "
                             f"--micro-batch {self.micro_batch} x data-parallel size {dp}")
        if self.data_format not in ("tokens", "instruct"):
            raise ValueError(f"unknown data format {self.data_format!r}")
        if self.lr_schedule not in ("multistep", "cosine", "constant"):
            raise ValueError(f"unknown lr schedule {self.lr_schedule!r}")
        if self.steps < 1:
            raise ValueError("--steps must be at least 1")
        if self.data_weights is not None and len(self.data_weights) != len(self.data):
            raise ValueError(f"--data-weights has {len(self.data_weights)} values for {len(self.data)} DATA folders")
        if self.seq_length > self.model.max_position_embeddings:
            raise ValueError(f"--seq-length {self.seq_length} exceeds max_position_embeddings "
                             f"{self.model.max_position_embeddings}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        d["model"] = ModelConfig(**d["model"])
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def save(self, path: Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def load(cls, path: Path) -> "TrainConfig":
        return cls.from_dict(yaml.safe_load(Path(path).read_text()))


# Options that may change between a run and its resumption (parallel layout and cadence only).
IDENTITY_EXEMPT = {"output", "tp", "pp", "micro_batch", "save_interval", "keep_checkpoints", "log_interval",
                   "init_from_hf", "init_from_checkpoint", "peak_tflops", "use_transformer_engine",
                   "distributed_optimizer"}


def changed_options(old: TrainConfig, new: TrainConfig) -> list[str]:
    a, b = old.to_dict(), new.to_dict()
    out = []
    for k in a:
        if k in IDENTITY_EXEMPT:
            continue
        if k == "model":
            out += [f"model.{m}" for m in a[k] if a[k][m] != b[k].get(m)]
        elif a[k] != b.get(k):
            out.append(k)
    return out


def default_steps(preset: Preset, global_batch: int, seq_length: int) -> int:
    return max(1, math.ceil(preset.train_tokens / (global_batch * seq_length)))
