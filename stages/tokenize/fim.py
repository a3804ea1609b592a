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
from typing import NamedTuple, Sequence

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


def pieces(texts: Sequence[str], choices: Sequence[FimChoice]) -> list[str]:
    """The texts to encode: a plain document whole, a FIM one as prefix, middle, suffix."""
    out: list[str] = []
    for t, ch in zip(texts, choices):
        if ch.mode is PLAIN:
            out.append(t)
        else:
            out += (t[:ch.start], t[ch.start:ch.end], t[ch.end:])
    return out


def layout(choices: Sequence[FimChoice], encodings: Sequence[list[int]], ids) -> tuple[list[int], list[int], dict]:
    """Each document's tokens in its mode's order, ending with eos: (all tokens, each document's
    length, documents per mode). `encodings` are the ids of `pieces(...)`, in order; `ids` the
    tokenizer's control ids (`tokenizer.SpecialIds`)."""
    flat: list[int] = []
    lengths: list[int] = []
    modes = {PLAIN: 0, PSM: 0, SPM: 0}
    eos, begin, hole, end = ids.eos, ids.fim_begin, ids.fim_hole, ids.fim_end
    i = 0
    for ch in choices:
        n0 = len(flat)
        modes[ch.mode] += 1
        if ch.mode is PLAIN:
            flat += encodings[i]
            i += 1
        else:
            prefix, middle, suffix = encodings[i], encodings[i + 1], encodings[i + 2]
            i += 3
            if ch.mode is PSM:  # <fim_begin> prefix <fim_hole> suffix <fim_end> middle
                flat.append(begin)
                flat += prefix
                flat.append(hole)
                flat += suffix
                flat.append(end)
                flat += middle
            else:  # SPM: <fim_begin> <fim_hole> suffix <fim_end> prefix middle
                flat.append(begin)
                flat.append(hole)
                flat += suffix
                flat.append(end)
                flat += prefix
                flat += middle
        flat.append(eos)
        lengths.append(len(flat) - n0)
    return flat, lengths, modes
