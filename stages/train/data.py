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


def _gpt_config(prefixes, weights, tokenizer: TokenizerInfo, seq_length: int, seed: int, cache_dir: Path,
                split: Optional[str] = None):
    from megatron.core.datasets.gpt_dataset import GPTDatasetConfig
    blend = (prefixes, weights if len(prefixes) > 1 else None)
    common = dict(random_seed=seed, sequence_length=seq_length, path_to_cache=str(cache_dir),
                  tokenizer=MegatronTokenizerAdapter(tokenizer), reset_position_ids=False,
                  reset_attention_mask=False, eod_mask_loss=False,
                  create_attention_mask=False)   # causal attention without an s×s mask tensor per sample
    if split is None:
        return GPTDatasetConfig(blend_per_split=[blend, None, None], **common)
    return GPTDatasetConfig(blend=blend, split=split, **common)


def _build(cfg, sizes: list[int]):
    from megatron.core.datasets.blended_megatron_dataset_builder import BlendedMegatronDatasetBuilder
    from megatron.core.datasets.gpt_dataset import GPTDataset
    return BlendedMegatronDatasetBuilder(GPTDataset, sizes, lambda: True, cfg).build()


def build_train_dataset(data: list[str], weights: Optional[list[float]], tokenizer: TokenizerInfo,
                        seq_length: int, num_samples: int, seed: int, cache_dir: Path):
    """The blended training dataset over all of DATA, built eagerly on every rank (rank 0 writes the
    index cache, then a barrier: building it lazily inside the schedule deadlocks under PP)."""
    prefixes, blend_weights = data_blend(data, weights)
    train, _, _ = _build(_gpt_config(prefixes, blend_weights, tokenizer, seq_length, seed, cache_dir), [num_samples, 0, 0])
    return train


def split_ranges(n_docs: int, split: str) -> list[tuple[int, int]]:
    """The documents [begin, end) of train, valid and test in a part of `n_docs` documents, as
    megatron's builder cuts them (`round(bound * n)` of its split matrix)."""
    from .config import split_weights
    bounds, acc = [0.0], 0.0
    for w in split_weights(split):
        acc += w
        bounds.append(acc)
    return [(int(round(a * n_docs)), int(round(b * n_docs))) for a, b in zip(bounds, bounds[1:])]


def _documents(prefix: str) -> int:
    from megatron.core.datasets.indexed_dataset import IndexedDataset
    ds = IndexedDataset(prefix)
    n = len(ds.sequence_lengths)   # what megatron splits: sequences (one per document here)
    del ds
    return n


def build_split_datasets(data: list[str], weights: Optional[list[float]], tokenizer: TokenizerInfo,
                         seq_length: int, num_train: int, num_valid: int, seed: int, cache_dir: Path,
                         split: str, valid_data: Optional[str] = None):
    """(train, valid, note): the training blend and the validation blend (None without one), with
    Megatron's semantics. `valid_data`: DATA trains whole and `valid_data` validates whole. Else
    `split` cuts every part of DATA by documents (train first, then valid, then test; test is not
    used) and validation reads the valid documents of all parts, blended like training.

    A part too small for the split (the train range, or with `num_valid` the valid range, holds no
    document) would make megatron's builder loop forever; then the split is not applied at all:
    DATA trains whole, validation is off, and `note` says why (docs/pretrain.md#validation)."""
    prefixes, blend_weights = data_blend(data, weights)
    if valid_data:
        train = build_train_dataset(data, weights, tokenizer, seq_length, num_train, seed, cache_dir)
        valid = None
        if num_valid:
            vp, vw = data_blend([valid_data], None)
            valid, _, _ = _build(_gpt_config(vp, vw, tokenizer, seq_length, seed, cache_dir), [num_valid, 0, 0])
        return train, valid, None
    from .config import split_weights
    w = split_weights(split)
    ranges = {p: split_ranges(_documents(p), split) for p in prefixes}
    need = [0] + ([1] if num_valid and w[1] > 0 else [])
    small = [p for p, r in ranges.items() if any(r[k][1] <= r[k][0] for k in need)]
    if small:
        p = small[0]
        note = (f"--split {split} leaves no {'valid' if ranges[p][0][1] > ranges[p][0][0] else 'train'} document in "
                f"{Path(p).name} ({_documents(p)} documents; {len(small)} of {len(prefixes)} parts are that small): "
                "training on all of DATA without validation (use a larger valid share, e.g. --split 90,10,0, "
                "or --valid-data)")
        train = build_train_dataset(data, weights, tokenizer, seq_length, num_train, seed, cache_dir)
        return train, None, note if num_valid else None
    cfg = _gpt_config(prefixes, blend_weights, tokenizer, seq_length, seed, cache_dir, split=split)
    # test documents stay out of training (Megatron's semantics) but are never read; no valid
    # dataset is built when nothing validates
    cfg.split_matrix = [cfg.split_matrix[0], cfg.split_matrix[1] if 1 in need else None, None]
    train, valid, _ = _build(cfg, [num_train, num_valid if 1 in need else 0, 0])
    note = None
    if num_valid and w[1] == 0:
        note = f"--split {split} has no valid share: no validation (e.g. --split 98,2,0, or --valid-data)"
    return train, valid, note


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
