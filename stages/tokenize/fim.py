"""Document-level fill-in-the-middle (paper §3.2), decided per document before packing.

With probability `fim_rate` a document is split at two points drawn uniformly over its characters
(0..len inclusive, as in Bavarian et al. 2022 and Megatron's FIM) into prefix, middle and suffix,
and written in PSM order

    <｜fim▁begin｜> prefix <｜fim▁hole｜> suffix <｜fim▁end｜> middle <｜end▁of▁sentence｜>

or, for a `spm_rate` share of the FIM documents, in SPM order (the variant of Bavarian et al. and
BigCode's Megatron: the suffix first, then prefix and middle in text order)

    <｜fim▁begin｜> <｜fim▁hole｜> suffix <｜fim▁end｜> prefix middle <｜end▁of▁sentence｜>

Every other document is `text <｜end▁of▁sentence｜>`. Each piece is tokenized by itself, so the
decoded pieces concatenate back to the document exactly.

The choice depends only on `seed` and the document's key (a sample's `sample_id`, a file's repo and
path), never on shard, worker or rank: a re-run, or the same document in another shard, gets the
same split.
"""

from __future__ import annotations

import hashlib
import random
from typing import NamedTuple

PLAIN, PSM, SPM = "plain", "psm", "spm"


class FimChoice(NamedTuple):
    mode: str  # PLAIN, PSM or SPM
    start: int = 0  # the middle is text[start:end]
    end: int = 0


def document_rng(seed: int, key: str) -> random.Random:
    digest = hashlib.blake2b(f"{seed}\x00{key}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "little"))


def choose(seed: int, key: str, n_chars: int, fim_rate: float, spm_rate: float) -> FimChoice:
    if fim_rate <= 0.0:
        return FimChoice(PLAIN)
    rng = document_rng(seed, key)
    if rng.random() >= fim_rate:
        return FimChoice(PLAIN)
    mode = SPM if rng.random() < spm_rate else PSM
    a, b = rng.randint(0, n_chars), rng.randint(0, n_chars)
    return FimChoice(mode, min(a, b), max(a, b))
