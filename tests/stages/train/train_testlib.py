"""Helpers for the train tests: a tiny byte-level BPE tokenizer trained in code and token folders
in the tokenize stage's format (`part-NNNNN.bin/.idx` + `tokenizer/`), built from stdlib sources."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
BOS, EOS = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
STDLIB = Path(sysconfig.get_paths()["stdlib"])
SOURCES = ["textwrap.py", "string.py", "fnmatch.py", "shlex.py", "bisect.py", "heapq.py", "colorsys.py",
           "keyword.py", "glob.py", "copy.py", "queue.py", "sched.py", "calendar.py", "csv.py"]


def stdlib_texts(names=SOURCES) -> list[str]:
    return [(STDLIB / n).read_text(encoding="utf-8") for n in names if (STDLIB / n).exists()]


def make_tokenizer(folder: Path, texts: list[str], vocab_size: int = 384) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=[])
    tok.train_from_iterator(texts, trainer)
    tok.add_special_tokens([BOS, EOS])
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"bos_token": BOS, "eos_token": EOS, "pad_token": EOS, "add_bos_token": True, "model_max_length": 16384}))
    return folder


def make_token_folder(folder: Path, texts: list[str], n_parts: int = 2, tokenizer_from: Path | None = None,
                      vocab_size: int = 384) -> Path:
    """A `dscoder tokenize`-style output folder; returns it. Documents end with eos."""
    import torch
    from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder, get_bin_path, get_idx_path
    from tokenizers import Tokenizer
    folder.mkdir(parents=True, exist_ok=True)
    tdir = folder / "tokenizer"
    if tokenizer_from is not None:
        import shutil
        shutil.copytree(tokenizer_from, tdir)
    else:
        make_tokenizer(tdir, texts, vocab_size)
    tok = Tokenizer.from_file(str(tdir / "tokenizer.json"))
    eos = tok.token_to_id(EOS)
    for p in range(n_parts):
        prefix = str(folder / f"part-{p:05d}")
        b = IndexedDatasetBuilder(get_bin_path(prefix), dtype=np.uint16)
        for text in texts[p::n_parts]:
            ids = tok.encode(text).ids + [eos]
            b.add_document(torch.tensor(ids), [len(ids)])
        b.finalize(get_idx_path(prefix))
    return folder


def all_tokens(folder: Path) -> np.ndarray:
    from megatron.core.datasets.indexed_dataset import IndexedDataset
    parts = sorted(p.with_suffix("") for p in folder.glob("*.idx"))
    return np.concatenate([np.concatenate([ds[i] for i in range(len(ds))]) for ds in
                           (IndexedDataset(str(p)) for p in parts)])


def unigram_entropy(tokens: np.ndarray) -> float:
    counts = np.bincount(tokens.astype(np.int64)).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def write_model_yaml(path: Path, **over) -> Path:
    cfg = dict(base="tiny", num_layers=2, hidden_size=64, num_attention_heads=4, num_query_groups=2,
               ffn_hidden_size=128, init_method_std=0.05)
    cfg.update(over)
    import yaml
    path.write_text(yaml.safe_dump(cfg))
    return path


def run_cli(*args, env_extra: dict | None = None, timeout: int = 600, check: bool = True, umask: int | None = None):
    """`python -m dscoder_cli ARGS` in a fresh process (1 thread per process; `umask`: its umask)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    env.update(env_extra or {})
    env.pop("RANK", None)
    env.pop("WORLD_SIZE", None)
    env.pop("DSCODER_VERBOSE", None)
    proc = subprocess.run([sys.executable, "-m", "dscoder_cli", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout,
                          preexec_fn=None if umask is None else (lambda: os.umask(umask)))
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-6000:]}")
    return proc


def read_metrics(output: Path) -> list[dict]:
    """The training rows of OUTPUT/metrics.jsonl (validation rows: `read_validation`)."""
    rows = [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [r for r in rows if "val_loss" not in r]


def read_validation(output: Path) -> list[dict]:
    rows = [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [r for r in rows if "val_loss" in r]


def modes(root: Path) -> dict[str, int]:
    """Permission bits of every file and folder under `root` (relative path -> mode)."""
    out = {".": root.stat().st_mode & 0o7777}
    for p in sorted(root.rglob("*")):
        if not p.is_symlink():
            out[str(p.relative_to(root))] = p.stat().st_mode & 0o7777
    return out


THIRD_PARTY_MARKERS = ("Warning:", "warnings.warn", "site-packages", "[rank")


# ----------------------------------------------------------------------------- extend-context / instruct
def make_deepseek_tokenizer(folder: Path, texts: list[str], vocab_size: int = 400) -> Path:
    """A tokenizer in the tokenize stage's format: the DeepSeek-Coder pre-tokenizer, the released added
    tokens (bos, eos, <|EOT|>, ...) after `vocab_size` base tokens, and the instruct chat template."""
    from stages.tokenize.tokenizer import save_hf, train_bpe
    folder.mkdir(parents=True, exist_ok=True)
    save_hf(train_bpe(texts, vocab_size), folder)
    return folder


def released_style_tokenizer_config(folder: Path) -> None:
    """Rewrite tokenizer_config.json the way the released DeepSeek-Coder *base* models ship it:
    `LlamaTokenizerFast`, tokens as AddedToken dicts, no chat template."""
    cfg = json.loads((folder / "tokenizer_config.json").read_text())
    for key in ("bos_token", "eos_token", "pad_token"):
        cfg[key] = {"__type": "AddedToken", "content": cfg[key], "lstrip": False, "normalized": True,
                    "rstrip": False, "single_word": False}
    cfg["tokenizer_class"] = "LlamaTokenizerFast"
    cfg.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg))


def reverse_list_pairs(n: int, seed: int, min_len: int = 3, max_len: int = 6) -> list[dict]:
    """Alpaca records: "Reverse this list." + a list of digits -> the reversed list."""
    import random
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        xs = [rng.randrange(10) for _ in range(rng.randint(min_len, max_len))]
        out.append({"instruction": "Reverse this list.", "input": str(xs), "output": str(xs[::-1])})
    return out


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def random_hf_llama(folder: Path, vocab: int, seed: int = 0, **over) -> Path:
    """A random Llama (GQA; RMSNorm weights != 1) saved as HF safetensors, fp32."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(seed)
    kw = dict(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-6, tie_word_embeddings=False,
              max_position_embeddings=512, initializer_range=0.05)
    kw.update(over)
    model = LlamaForCausalLM(LlamaConfig(**kw))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1 + 0.1 * torch.randn_like(p))
    model.save_pretrained(str(folder))
    return folder


def masked_lm_loss(logits, ids, loss_mask) -> float:
    """Mean next-token cross-entropy over positions whose *label* is marked (mask aligned to ids[1:])."""
    import torch
    logits = logits[:, :-1].reshape(-1, logits.shape[-1]).float()
    labels = torch.as_tensor(ids)[..., 1:].reshape(-1)
    mask = torch.as_tensor(loss_mask).reshape(-1).bool()
    return torch.nn.functional.cross_entropy(logits[mask], labels[mask]).item()
