"""Every training default, in one place: the model presets (paper Table 2), the options of the
training commands (`option()` fields: the CLI, the docs tables and `make bench` read them from here)
and the resolved training configuration.

- `TrainRunOptions`: what pretrain, extend-context and instruct share (parallel layout, precision,
  checkpoint retention, seed, --overwrite); `PretrainOptions`, `ExtendContextOptions` (paper §3.4),
  `InstructOptions` (paper §3.5) and `ExportHFOptions`: each command's own.
- `TrainConfig`: what one run does, resolved from those (`runner.py`, `finetune.py`). It is written
  to OUTPUT/config.yaml; a re-run on the same OUTPUT compares the options that change the result
  (`IDENTITY_EXEMPT` lists the ones that may differ: parallel layout, logging and checkpoint
  cadence) and resumes, or refuses with the changed options named.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Optional

import yaml

from stages.core.atomic import write_text_atomic
from stages.core.config import check_ranges, comma_list, option
from stages.core.errors import UsageError
from stages.core.output import option_changes


class MissingFile(UsageError, FileNotFoundError):
    """A checkpoint, file or folder the command was given is not there (exit 2). Still a
    FileNotFoundError, for callers that catch that (eval resolving a checkpoint)."""


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
            raise UsageError("num_attention_heads must be a multiple of num_query_groups")
        if self.num_attention_heads % tp or self.query_groups % tp:
            raise UsageError(f"--tp {tp} must divide the attention heads and query groups "
                             f"({self.num_attention_heads}, {self.query_groups})")
        if self.ffn_hidden_size % tp:
            raise UsageError(f"--tp {tp} must divide ffn_hidden_size {self.ffn_hidden_size}")
        if self.num_layers % pp:
            raise UsageError(f"--pp {pp} must divide num_layers {self.num_layers}")
        if self.vocab_size is not None and self.vocab_size % tp:
            raise UsageError(f"--tp {tp} must divide vocab_size {self.vocab_size}")


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
            raise UsageError(f"unknown --model {name!r}; choose from {', '.join(PRESETS)}")
        return dataclasses.replace(PRESETS[name], model=dataclasses.replace(PRESETS[name].model))
    if not Path(model_config).is_file():
        raise MissingFile(f"--model-config {model_config}: no such file")
    raw = yaml.safe_load(Path(model_config).read_text()) or {}
    if not isinstance(raw, dict):
        raise UsageError(f"{model_config}: expected a mapping of model settings")
    raw = dict(raw.get("model", {}), **{k: v for k, v in raw.items() if k != "model"})
    base = load_preset(raw.pop("base", name or "tiny"))
    preset_over = {k: raw.pop(k) for k in list(raw) if k in _PRESET_KEYS}
    known = {f.name for f in fields(ModelConfig)}
    unknown = set(raw) - known
    if unknown:
        raise UsageError(f"{model_config}: unknown model settings {sorted(unknown)}")
    return dataclasses.replace(base, model=dataclasses.replace(base.model, **raw), **preset_over)


def _preset_default(attr: str, fmt=str) -> str:
    """How --help and the docs show a default taken from the preset: `the preset's: 4096; tiny: 128`,
    or `the preset's: 1024 / 2304 / 3840; tiny: 16` where the paper's sizes differ."""
    paper = [fmt(getattr(PRESETS[name], attr)) for name in PRESETS if name != "tiny"]
    shown = paper[0] if len(set(paper)) == 1 else " / ".join(paper)
    return f"the preset's: {shown}; tiny: {fmt(getattr(PRESETS['tiny'], attr))}"


def _lr_text(lr: float) -> str:
    return f"{lr:.1e}".replace(".0e", "e").replace("e-0", "e-")


def comma_floats(text: Optional[str], flag: str) -> Optional[list[float]]:
    """`0.8,0.9` -> [0.8, 0.9] (None stays None): how --data-weights and --lr-milestones are typed."""
    if text is None:
        return None
    try:
        return [float(x) for x in comma_list(text)]
    except ValueError:
        raise UsageError(f"{flag}: expected comma-separated numbers, got {text!r}") from None


def blend_weights(text: Optional[str], flag: str = "--data-weights") -> Optional[list[float]]:
    """`3,1` -> [3.0, 1.0]: --data-weights, each weight positive and finite (0 is no "default" here:
    a folder not to train on is left out of DATA). None stays None (weights by token count)."""
    weights = comma_floats(text, flag)
    if weights is not None and (not weights or any(not math.isfinite(w) or w <= 0 for w in weights)):
        raise UsageError(f"{flag}: expected positive numbers, one per DATA folder (leave out a folder not to "
                         f"train on), got {text!r}")
    return weights


def lr_milestones(text: Optional[str], flag: str = "--lr-milestones") -> list[float]:
    """`0.8,0.9` -> [0.8, 0.9]: fractions of --steps strictly between 0 and 1 ('' or None: none)."""
    values = comma_floats(text, flag) or []
    if any(not 0 < m < 1 for m in values):   # NaN fails this too
        raise UsageError(f"{flag}: expected fractions of --steps between 0 and 1 (exclusive), got {text!r}")
    return values


def _checked(check):
    """An option's `parse`: refuse a bad value when the command line is read, keep the text."""
    def parse(text):
        check(text)
        return text
    return parse


DATA_WEIGHTS_HELP = "Comma-separated blend weights, one per DATA folder."
RECOMPUTE_CHOICES = ("none", "selective", "full")


def split_weights(text: str) -> list[float]:
    """`969,30,1` -> [0.969, 0.03, 0.001]: Megatron's --split (up to three weights, missing ones 0,
    normalised to sum 1)."""
    try:
        w = [float(x) for x in comma_list(text)]
    except ValueError:
        raise UsageError(f"--split: expected up to three comma-separated numbers, got {text!r}") from None
    if not 1 <= len(w) <= 3 or any(x < 0 or not math.isfinite(x) for x in w) or w[0] <= 0:
        raise UsageError(f"--split: expected up to three non-negative weights, the first (train) positive, "
                         f"got {text!r}")
    w += [0.0] * (3 - len(w))
    return [x / sum(w) for x in w]


@dataclass
class TrainRunOptions:
    """The options pretrain, extend-context and instruct share: one definition for the three."""

    keep_checkpoints: int = option(3, "Keep the newest N checkpoints.", min=1)
    seed: int = option(1234, "Seed of the data order (and of a new model's initialisation).", min=0)
    tp: int = option(1, "Tensor-parallel size.", flag="--tp", min=1)
    pp: int = option(1, "Pipeline-parallel size (1F1B schedule).", flag="--pp", min=1)
    nproc: int = option(1, "Spawn N local processes (no torchrun needed); under torchrun/srun the launcher's "
                        "ranks are used instead.", flag="--nproc", min=1)
    fp32: bool = option(False, "Train in fp32 on GPUs too (CPUs always use fp32).", flag="--fp32")
    no_te: bool = option(False, "Use megatron's local layer spec even where TransformerEngine imports.",
                         flag="--no-te")
    distributed_optimizer: bool = option(False, "Shard optimizer state over data-parallel ranks (GPUs).",
                                         flag="--distributed-optimizer/--no-distributed-optimizer")
    recompute_activations: str = option("none", "Recompute activations in the backward pass instead of keeping "
                                        "them: selective (attention's core, megatron-core's `selective`) or full "
                                        "(every layer from its input); docs/pretrain.md#memory.",
                                        choices=RECOMPUTE_CHOICES)
    sequence_parallel: bool = option(False, "Split norms and dropout activations along the sequence over the "
                                     "tensor-parallel ranks (needs --tp 2 or more).",
                                     flag="--sequence-parallel/--no-sequence-parallel")
    eval_interval: int = option(1000, "Validate every N steps and after the last one (0: never).", min=0)
    eval_iters: int = option(100, "Global batches per validation (the same held-out batches every time).", min=1)
    split: str = option("969,30,1", "Train,valid,test weights over each DATA part's documents (Megatron's "
                        "--split; instruct: over the records); validation reads the valid part.")
    valid_data: Optional[Path] = option(None, "Held-out data for validation, used whole (DATA then trains whole, "
                                        "--split unused): a token folder, or instruction records for instruct.",
                                        flag="--valid-data")
    wandb_project: Optional[str] = option(None, "Also log to Weights & Biases (`pip install wandb`; WANDB_API_KEY "
                                          "and WANDB_MODE=offline are read from the environment).",
                                          flag="--wandb-project")
    verbose: bool = option(False, "Show the third-party warnings hidden by default (stages/train/quiet.py).",
                           flag="--verbose")
    peak_tflops: Optional[float] = option(None, "Peak TFLOP/s per device for MFU.", show="detected", min=0,
                                          min_open=True)
    overwrite: bool = option(False, "Delete OUTPUT and start over.", flag="--overwrite")

    def __post_init__(self):
        check_ranges(self)
        split_weights(self.split)

    def train_fields(self) -> dict:
        """The `TrainConfig` fields these set."""
        return dict(keep_checkpoints=self.keep_checkpoints, seed=self.seed, tp=self.tp, pp=self.pp,
                    bf16=not self.fp32, use_transformer_engine=not self.no_te,
                    distributed_optimizer=self.distributed_optimizer, peak_tflops=self.peak_tflops,
                    recompute_activations=self.recompute_activations, sequence_parallel=self.sequence_parallel,
                    eval_interval=self.eval_interval, eval_iters=self.eval_iters, split=self.split,
                    valid_data=str(Path(self.valid_data).resolve()) if self.valid_data else None,
                    wandb_project=self.wandb_project)


@dataclass
class PretrainOptions:
    """`dscoder pretrain` (paper §3.3). None: the preset's value (`--model`, or `--model-config`'s)."""

    model: str = option("1.3b", "Preset: 1.3b, 6.7b, 33b (paper Table 2) or tiny (CPU).", flag="--model")
    model_config: Optional[Path] = option(None, "YAML of model settings (overrides --model; `base: <preset>` to "
                                          "start from one).", flag="--model-config")
    data_weights: Optional[str] = option(None, DATA_WEIGHTS_HELP, show="by token count",
                                         parse=_checked(blend_weights))
    steps: Optional[int] = option(None, "Optimizer steps.", show=f"{PRESETS['1.3b'].train_tokens / 1e12:g}T tokens / "
                                  "(batch x seq)", min=1)
    warmup_steps: Optional[int] = option(None, "Linear warm-up steps.", show=_preset_default("warmup_steps"), min=0)
    seq_length: Optional[int] = option(None, "Tokens per sequence.", show=_preset_default("seq_length"), min=1)
    global_batch: Optional[int] = option(None, "Sequences per step.", show=_preset_default("global_batch"), min=1)
    micro_batch: Optional[int] = option(None, "Sequences per forward pass per rank.",
                                        show=_preset_default("micro_batch"), min=1)
    lr: Optional[float] = option(None, "Max LR.", show=_preset_default("max_lr", _lr_text), min=0, min_open=True)
    min_lr_ratio: float = option(0.1, "Final LR as a fraction of max (paper: 10%).", min=0, max=1)
    lr_milestones: str = option("0.8,0.9", "Fractions of --steps where the LR steps down (each to "
                                "min-lr-ratio^(1/k) of the previous: sqrt(1/10) twice).",
                                parse=_checked(lr_milestones))
    save_interval: int = option(1000, "Checkpoint every N steps (and at the end).", min=1)
    init_from_hf: Optional[Path] = option(None, "Start from a HuggingFace Llama checkpoint folder (e.g. a "
                                          "released DeepSeek-Coder).", flag="--init-from-hf")

    def __post_init__(self):
        check_ranges(self)
        blend_weights(self.data_weights)
        lr_milestones(self.lr_milestones)


@dataclass
class ExtendContextOptions:
    """`dscoder extend-context`: the paper's values (§3.4) are the defaults."""

    rope_base: float = option(100_000.0, "RoPE base (paper: 10,000 -> 100,000).", min=0, min_open=True)
    rope_scale: float = option(4.0, "Linear position interpolation factor (paper: 4; 1 = none).", min=0, min_open=True)
    seq_length: int = option(16_384, "Tokens per sequence (paper: 16K).", min=1)
    steps: int = option(1000, "Optimizer steps (paper: 1000).", min=1)
    global_batch: int = option(512, "Sequences per step (paper: 512).", min=1)
    micro_batch: int = option(1, "Sequences per forward pass per rank.", min=1)
    lr: Optional[float] = option(None, "Constant LR.", show="the checkpoint's final LR, as in the paper", min=0,
                                 min_open=True)
    warmup_steps: int = option(0, "Linear warm-up steps (0: the LR is held from the first step).", min=0)
    fresh_optimizer: bool = option(False, "Start with new Adam moments instead of the checkpoint's optimizer "
                                   "state.", flag="--fresh-optimizer")
    data_weights: Optional[str] = option(None, DATA_WEIGHTS_HELP, show="by token count",
                                         parse=_checked(blend_weights))
    save_interval: int = option(250, "Checkpoint every N steps (and at the end).", min=1)

    def __post_init__(self):
        check_ranges(self)
        blend_weights(self.data_weights)


@dataclass
class InstructOptions:
    """`dscoder instruct`: the paper's values (§3.5) are the defaults."""

    lr: float = option(1e-5, "Peak LR (paper: 1e-5).", min=0, min_open=True)
    warmup_steps: int = option(100, "Linear warm-up steps (paper: 100).", min=0)
    min_lr_ratio: float = option(0.0, "Final LR of the cosine schedule as a fraction of the peak.", min=0, max=1)
    seq_length: int = option(4096, "Tokens per sequence; longer examples are truncated.", min=1)
    batch_tokens: int = option(4 * 1024 * 1024, "Tokens per step (paper: 4M): sets the sequences per step to "
                               "batch-tokens / seq-length.", min=1)
    global_batch: Optional[int] = option(None, "Sequences per step (overrides --batch-tokens).", min=1)
    micro_batch: int = option(1, "Sequences per forward pass per rank.", min=1)
    steps: Optional[int] = option(None, "Optimizer steps.", show="--epochs over the data", min=1)
    epochs: float = option(3.0, "Passes over the data when --steps is not given.", min=0, min_open=True)
    pack: bool = option(False, "Pack several examples per sequence (each keeps its own loss mask and attends "
                        "only to itself).", flag="--pack/--no-pack")
    tokenizer: Optional[Path] = option(None, "Tokenizer folder.", show="the checkpoint's")
    add_chat_tokens: bool = option(True, "Add <|EOT|> to a tokenizer that lacks it (a Llama, Qwen or StarCoder "
                                   "one), with new embedding and output rows from the mean embedding.",
                                   flag="--add-chat-tokens/--no-add-chat-tokens")
    save_interval: int = option(500, "Checkpoint every N steps (and at the end).", min=1)

    def __post_init__(self):
        check_ranges(self)


@dataclass
class ExportHFOptions:
    """`dscoder export-hf`."""

    dtype: str = option("bfloat16", "Weights dtype: bfloat16, float32 or float16.",
                        choices=("bfloat16", "float32", "float16"))
    verbose: bool = option(False, "Show the third-party warnings hidden by default (stages/train/quiet.py).",
                           flag="--verbose")

    def __post_init__(self):
        check_ranges(self)


# TrainConfig's defaults are those of `dscoder pretrain` with its default preset.
_DEFAULT_PRESET = PRESETS[PretrainOptions.model]


@dataclass
class TrainConfig:
    """Everything one training run needs; pretrain, extend-context and instruct fill it differently."""

    data: list[str]
    output: str
    model: ModelConfig
    model_name: str = "custom"
    data_weights: Optional[list[float]] = None
    steps: int = 1000
    warmup_steps: int = _DEFAULT_PRESET.warmup_steps
    seq_length: int = _DEFAULT_PRESET.seq_length
    global_batch: int = _DEFAULT_PRESET.global_batch
    micro_batch: int = _DEFAULT_PRESET.micro_batch
    lr: float = _DEFAULT_PRESET.max_lr
    min_lr_ratio: float = PretrainOptions.min_lr_ratio   # paper: ends at 10% of max
    lr_schedule: str = "multistep"            # multistep (paper pretrain) | cosine (instruct) | constant
    lr_milestones: list[float] = field(default_factory=lambda: comma_floats(PretrainOptions.lr_milestones,
                                                                            "--lr-milestones"))
    adam_beta1: float = 0.9
    adam_beta2: float = 0.95
    adam_eps: float = 1e-8
    weight_decay: float = 0.1
    clip_grad: float = 1.0
    save_interval: int = PretrainOptions.save_interval
    keep_checkpoints: int = TrainRunOptions.keep_checkpoints
    log_interval: int = 1
    seed: int = TrainRunOptions.seed
    tp: int = TrainRunOptions.tp
    pp: int = TrainRunOptions.pp
    bf16: bool = not TrainRunOptions.fp32     # GPUs only: CPUs train in fp32
    use_transformer_engine: bool = not TrainRunOptions.no_te   # when it imports and CUDA is present
    distributed_optimizer: bool = TrainRunOptions.distributed_optimizer   # GPUs only (not usable on CPU)
    init_from_hf: Optional[str] = None
    init_from_checkpoint: Optional[str] = None  # model weights (extend-context and instruct start here)
    init_optimizer: bool = False              # also its optimizer state (extend-context continues training)
    peak_tflops: Optional[float] = TrainRunOptions.peak_tflops   # per device, for MFU; None: from the hardware
    stage: str = "pretrain"                   # pretrain | extend-context | instruct (labels runs in reports)
    data_format: str = "tokens"               # tokens: `dscoder tokenize` folders | instruct: JSONL/Parquet records
    tokenizer: Optional[str] = None           # tokenizer folder; None: the DATA folders' tokenizer/
    pack_sequences: bool = False              # instruct: several examples per sequence
    # Added for issue 21 (a config.yaml without them reads as these defaults).
    recompute_activations: str = TrainRunOptions.recompute_activations   # none | selective | full
    sequence_parallel: bool = TrainRunOptions.sequence_parallel
    eval_interval: int = TrainRunOptions.eval_interval   # 0: no validation
    eval_iters: int = TrainRunOptions.eval_iters
    split: str = TrainRunOptions.split                   # train,valid,test weights (Megatron's --split)
    valid_data: Optional[str] = None                     # held-out data used whole (split unused)
    wandb_project: Optional[str] = None
    # instruct from a foreign tokenizer: tokens added to it (name -> id), whose embedding and output
    # rows start as the mean of the first `mean_init_rows` rows (the tokenizer's own, before adding)
    added_tokens: dict = field(default_factory=dict)
    mean_init_rows: Optional[int] = None
    # a finished run continued with another --steps: one entry per change (the schedule is recomputed)
    steps_history: list = field(default_factory=list)

    def validate(self, world_size: int = 1) -> None:
        # The CLI refuses these when it parses (`option(min=...)`); a config built in Python is checked here.
        for flag, value, low in (("--steps", self.steps, 1), ("--global-batch", self.global_batch, 1),
                                 ("--micro-batch", self.micro_batch, 1), ("--seq-length", self.seq_length, 1),
                                 ("--warmup-steps", self.warmup_steps, 0), ("--save-interval", self.save_interval, 1),
                                 ("--keep-checkpoints", self.keep_checkpoints, 1), ("--tp", self.tp, 1),
                                 ("--pp", self.pp, 1), ("--eval-interval", self.eval_interval, 0),
                                 ("--eval-iters", self.eval_iters, 1), ("--seed", self.seed, 0)):
            if value < low:
                raise UsageError(f"{flag} must be at least {low}, got {value}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise UsageError(f"--lr must be a positive number, got {self.lr}")
        if not 0 <= self.min_lr_ratio <= 1:   # NaN fails this too
            raise UsageError(f"--min-lr-ratio must be between 0 and 1, got {self.min_lr_ratio}")
        if any(not 0 < m < 1 for m in self.lr_milestones):
            raise UsageError(f"--lr-milestones must be fractions between 0 and 1, got {self.lr_milestones}")
        if self.data_weights is not None and any(not math.isfinite(w) or w <= 0 for w in self.data_weights):
            raise UsageError(f"--data-weights must be positive numbers, got {self.data_weights}")
        self.model.validate(self.tp, self.pp)
        if world_size % (self.tp * self.pp):
            raise UsageError(f"world size {world_size} is not a multiple of tp*pp = {self.tp * self.pp}")
        dp = world_size // (self.tp * self.pp)
        if self.global_batch % (self.micro_batch * dp):
            raise UsageError(f"--global-batch {self.global_batch} must be a multiple of "
                             f"--micro-batch {self.micro_batch} x data-parallel size {dp}")
        if self.data_format not in ("tokens", "instruct"):
            raise UsageError(f"unknown data format {self.data_format!r}")
        if self.lr_schedule not in ("multistep", "cosine", "constant"):
            raise UsageError(f"unknown lr schedule {self.lr_schedule!r}")
        if self.data_weights is not None and len(self.data_weights) != len(self.data):
            raise UsageError(f"--data-weights has {len(self.data_weights)} values for {len(self.data)} DATA folders")
        if self.recompute_activations not in RECOMPUTE_CHOICES:
            raise UsageError(f"--recompute-activations must be one of {', '.join(RECOMPUTE_CHOICES)}")
        if self.sequence_parallel and self.tp < 2:
            raise UsageError("--sequence-parallel needs --tp 2 or more (it splits activations over the "
                             "tensor-parallel ranks)")
        if self.sequence_parallel and self.seq_length % self.tp:
            raise UsageError(f"--sequence-parallel: --seq-length {self.seq_length} must be a multiple of --tp {self.tp}")
        split_weights(self.split)
        if self.seq_length > self.model.max_position_embeddings:
            raise UsageError(f"--seq-length {self.seq_length} exceeds max_position_embeddings "
                             f"{self.model.max_position_embeddings}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        if "split" not in d:   # written before --split existed: it trained on all of DATA, unvalidated
            d.update(split="1,0,0", eval_interval=0)
        d["model"] = ModelConfig(**d["model"])
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def save(self, path: Path) -> None:
        write_text_atomic(Path(path), yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def load(cls, path: Path) -> "TrainConfig":
        return cls.from_dict(yaml.safe_load(Path(path).read_text()))


# Options that may change between a run and its resumption (parallel layout and cadence only).
# `steps` may change too: a finished (or stopped) run continues to a new --steps, its schedule
# recomputed and the change recorded in `steps_history` (runner.check_output). Memory options,
# validation cadence and loggers change how a run is computed or watched, not what it learns.
IDENTITY_EXEMPT = {"output", "tp", "pp", "micro_batch", "save_interval", "keep_checkpoints", "log_interval",
                   "init_from_hf", "init_from_checkpoint", "peak_tflops", "use_transformer_engine",
                   "distributed_optimizer", "steps", "steps_history", "recompute_activations", "sequence_parallel",
                   "eval_interval", "eval_iters", "wandb_project"}


def identity(cfg: TrainConfig) -> dict:
    """The options a resumed run must share with the run that made OUTPUT (all but `IDENTITY_EXEMPT`)."""
    return {k: v for k, v in cfg.to_dict().items() if k not in IDENTITY_EXEMPT}


def changed_options(old: TrainConfig, new: TrainConfig) -> list[str]:
    """The names (`steps`, `model.hidden_size`) of the identity options that differ."""
    return [name for name, _, _ in option_changes(identity(old), identity(new))]


def default_steps(preset: Preset, global_batch: int, seq_length: int) -> int:
    return max(1, math.ceil(preset.train_tokens / (global_batch * seq_length)))
