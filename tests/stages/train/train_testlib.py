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


def run_cli(*args, env_extra: dict | None = None, timeout: int = 600, check: bool = True):
    """`python -m dscoder_cli ARGS` in a fresh process (1 thread per process)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), **(env_extra or {}))
    env.pop("RANK", None)
    env.pop("WORLD_SIZE", None)
    proc = subprocess.run([sys.executable, "-m", "dscoder_cli", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-6000:]}")
    return proc


def read_metrics(output: Path) -> list[dict]:
    return [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines() if line.strip()]
