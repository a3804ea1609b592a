"""Token data: the tokenize stage's folders (`part-NNNNN.bin/.idx` + `tokenizer/`) blended with
megatron-core's `BlendedMegatronDatasetBuilder` + `GPTDataset`, read by global sample index.

Batches are a pure function of (seed, step): step s covers samples [s·B, (s+1)·B) of the blended
dataset, data-parallel rank r takes its contiguous B/dp of them, in micro-batches. The data
position is therefore just the step (`consumed_samples` = step·B), which makes a resumed run
see exactly the batches the uninterrupted run would have seen.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from stages.core.atomic import atomic_dir
from stages.core.errors import UsageError

EOS_CANDIDATES = ("<｜end▁of▁sentence｜>", "</s>", "<|endoftext|>", "<eos>")


@dataclass
class TokenizerInfo:
    """What training needs from the tokenizer folder: its size and the end-of-document id."""

    path: Path
    vocab_size: int      # including added tokens
    eod: int

    @classmethod
    def load(cls, folder: Path) -> "TokenizerInfo":
        from tokenizers import Tokenizer
        folder = Path(folder)
        tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        eos = None
        cfg_file = folder / "tokenizer_config.json"
        if cfg_file.exists():
            eos = json.loads(cfg_file.read_text()).get("eos_token")
            eos = eos.get("content") if isinstance(eos, dict) else eos
        for name in ([eos] if eos else []) + list(EOS_CANDIDATES):
            tid = tok.token_to_id(name)
            if tid is not None:
                return cls(folder, tok.get_vocab_size(with_added_tokens=True), tid)
        raise UsageError(f"{folder}: no end-of-sentence token (tokenizer_config.json eos_token or one of "
                         f"{', '.join(EOS_CANDIDATES)})")


class MegatronTokenizerAdapter:
    """The two attributes `GPTDataset` reads. No `pad`: DeepSeek-Coder's pad equals its eos, and
    megatron would then mask every end-of-document label out of the loss."""

    def __init__(self, info: TokenizerInfo):
        self.vocab_size = info.vocab_size
        self.eod = info.eod
        # part of the dataset description megatron hashes to name its index cache
        self.unique_identifiers = {"class": "dscoder-hf-tokenizer", "vocab_size": info.vocab_size, "eod": info.eod}


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def find_tokenizer(data: list[str]) -> Path:
    """The `tokenizer/` folder of the DATA folders; all of them must hold the same tokenizer."""
    folders = [Path(d) / "tokenizer" for d in data]
    missing = [str(f.parent) for f in folders if not (f / "tokenizer.json").exists()]
    if missing:
        raise UsageError(f"no tokenizer/tokenizer.json in {', '.join(missing)} (is this a `dscoder tokenize` output?)")
    digests = {_file_digest(f / "tokenizer.json") for f in folders}
    if len(digests) > 1:
        raise UsageError("the DATA folders were tokenized with different tokenizers")
    return folders[0]


def tokenizer_dir(cfg) -> Optional[Path]:
    """The run's tokenizer folder: `cfg.tokenizer` when given (instruct: the checkpoint's), else DATA's."""
    if getattr(cfg, "tokenizer", None):
        folder = Path(cfg.tokenizer)
        if not (folder / "tokenizer.json").exists():
            raise UsageError(f"{folder}: no tokenizer.json")
        return folder
    return find_tokenizer(cfg.data) if cfg.data else None


def copy_tokenizer(src: Path, dst: Path) -> None:
    if dst.exists():
        return
    with atomic_dir(dst, exist_ok=True) as tmp:
        shutil.copytree(src, tmp, dirs_exist_ok=True)


def data_blend(data: list[str], weights: Optional[list[float]]) -> tuple[list[str], list[float]]:
    """Every part of every DATA folder as one megatron blend: a folder's weight (default: its share
    of all tokens) is split over its parts by their token counts."""
    import numpy as np
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    prefixes, tokens = [], []
    for folder in data:
        parts = sorted(p.with_suffix("") for p in Path(folder).glob("*.idx") if p.with_suffix(".bin").exists())
        if not parts:
            raise UsageError(f"{folder}: no *.bin/*.idx token files")
        counts = []
        for p in parts:
            ds = IndexedDataset(str(p))   # keep it alive while its memory-mapped index is read
            counts.append(int(np.sum(ds.sequence_lengths, dtype=np.int64)))
            del ds
        prefixes.append([str(p) for p in parts])
        tokens.append(counts)
    folder_tokens = [sum(c) for c in tokens]
    if weights is None:
        weights = folder_tokens
    total_w = float(sum(weights))
    out_prefixes, out_weights = [], []
    for fw, fpref, fcounts, ftot in zip(weights, prefixes, tokens, folder_tokens):
        for p, c in zip(fpref, fcounts):
            if c > 0 and fw > 0:
                out_prefixes.append(p)
                out_weights.append(fw / total_w * c / ftot)
    return out_prefixes, out_weights


def build_train_dataset(data: list[str], weights: Optional[list[float]], tokenizer: TokenizerInfo,
                        seq_length: int, num_samples: int, seed: int, cache_dir: Path):
    """The blended training dataset, built eagerly on every rank (rank 0 writes the index cache,
    then a barrier: building it lazily inside the schedule deadlocks under PP)."""
    from megatron.core.datasets.blended_megatron_dataset_builder import BlendedMegatronDatasetBuilder
    from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig

    prefixes, blend_weights = data_blend(data, weights)
    cfg = GPTDatasetConfig(
        random_seed=seed, sequence_length=seq_length,
        blend_per_split=[(prefixes, blend_weights if len(prefixes) > 1 else None), None, None],
        path_to_cache=str(cache_dir), tokenizer=MegatronTokenizerAdapter(tokenizer),
        reset_position_ids=False, reset_attention_mask=False, eod_mask_loss=False,
        create_attention_mask=False,   # causal attention without an s×s mask tensor per sample
    )
    train, _, _ = BlendedMegatronDatasetBuilder(GPTDataset, [num_samples, 0, 0], lambda: True, cfg).build()
    return train


class BatchSource:
    """Micro-batches of one step for one data-parallel rank, by global sample index."""

    def __init__(self, dataset, global_batch: int, micro_batch: int, dp_rank: int, dp_size: int, device):
        self.dataset, self.global_batch, self.micro_batch = dataset, global_batch, micro_batch
        self.dp_rank, self.dp_size, self.device = dp_rank, dp_size, device
        self.per_rank = global_batch // dp_size
        self.num_microbatches = self.per_rank // micro_batch

    def step_iterator(self, step: int):
        import torch
        start = step * self.global_batch + self.dp_rank * self.per_rank
        for m in range(self.num_microbatches):
            items = [self.dataset[start + m * self.micro_batch + j] for j in range(self.micro_batch)]
            batch = {}
            for key in items[0]:   # tokens, labels, loss_mask, position_ids (+ segment_ids when packed)
                batch[key] = torch.stack([torch.as_tensor(it[key]) for it in items]).to(self.device, non_blocking=True)
            yield batch
