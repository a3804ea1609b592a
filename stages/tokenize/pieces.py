"""Exact, faster encoding for the DeepSeek-Coder pre-tokenizer: split in Python, cache each piece's ids.

Profiling the tokenize stage showed where the `tokenizers` library spends its time on code: not in
BPE (cached per word inside the library) but in its pre-tokenizer, four Oniguruma regex passes and a
digit pass over `NormalizedString`s, about 4 µs per piece; on code nearly every piece is one token.
This module gives the same ids with less work:

1. A document is cut into the pre-tokenizer's pieces by one Python `re` pattern. The DeepSeek-Coder
   pre-tokenizer (tokenizer.py) is a sequence of isolating splits: `[\\r\\n]`, `\\s?\\p{L}+`,
   `\\s?\\p{P}+`, CJK runs, each digit. On ASCII text those passes collapse into the alternation
   `ASCII_PIECE` below (why, pass by pass, in its comment). Lines that hold a non-ASCII character
   (0.4% of the demo corpus's bytes) are not split here: the whole line is one piece, encoded by the
   library's own pre-tokenizer, so no Unicode table of ours has to agree with Oniguruma's. Lines are
   independent because the first pass isolates every `\\r` and `\\n`.
2. Each distinct piece is encoded once by the library, with a tokenizer whose pre-tokenizer is only
   the byte-level mapping (what the library runs on each piece after splitting), and its ids are kept
   in a bounded dict. A document's ids are its pieces' ids, concatenated.
3. Texts are split and encoded a group of about `GROUP_CHARS` characters at a time, and a longer
   text in newline-ended pieces of that size (exact: lines are independent), so the Python strings
   of the pieces in memory are those of one group, never of a whole 50 MB sample.

`piece_encoder()` turns this on only for a tokenizer whose normalizer and pre-tokenizer are exactly
the released DeepSeek-Coder ones, after checking the split against the library on a probe of every
ASCII character in every context (`check_split`); any other tokenizer is encoded by the library as a
whole (`LibraryEncoder`). tests/stages/tokenize/test_tokenize_pieces.py compares both with the library on the
standard library's sources and on random Unicode.
"""

from __future__ import annotations

import json
import random
import re
from itertools import chain
from typing import Protocol

from tokenizers import Tokenizer, models, pre_tokenizers

from .tokenizer import deepseek_pre_tokenizer, line_chunks

# The released pre-tokenizer (deepseek-ai/deepseek-coder-*; the one tokenizer.py trains with), as JSON.
DEEPSEEK_CODER_PRE_TOKENIZER = json.loads(deepseek_pre_tokenizer().__getstate__())

# ASCII classes as Oniguruma and Rust see them (checked by check_split): \s minus \r\n, \p{L}, \p{P}.
# $ + < = > ^ ` | ~ are symbols (\p{S}), not punctuation; \x1c-\x1f are not \s.
_W, _L, _P = r"\t\x0b\x0c ", "A-Za-z", r"!\"#%&'()*,\-./:;?@\[\\\]_{}"

# The passes in one left-to-right scan. [\r\n] and each digit are pieces by themselves (passes 1, 5;
# digits are neither \s, \p{L} nor \p{P}, so passes 2-3 leave them in the gaps). A \p{L} run with the
# one \s before it (pass 2), then a \p{P} run with its \s (pass 3): the classes are disjoint, so the
# two passes choose the same matches as one alternation, and the optional \s can never be a \r or
# \n (pass 1 has isolated them). Everything else is gap, kept whole (isolated splits keep gaps as
# pieces) -- except a \s that starts the next \p{L} or \p{P} match. Pass 4 (CJK) never fires on ASCII.
# No two alternatives match at the same position, so their order is free: the most frequent first.
ASCII_PIECE = re.compile(
    rf"[{_W}]?[{_L}]+|[{_W}]?[{_P}]+|(?:[^\r\n0-9{_L}{_P}{_W}]|[{_W}](?![{_L}{_P}]))+|[\r\n]|[0-9]")
LINE = re.compile(r"[\r\n]|[^\r\n]+")

DEFAULT_MAX_CACHED = 200_000  # distinct pieces kept per process (<= ~60 MB); the cache restarts when full
# Characters split into pieces at a time (each piece is a Python string of ~50 bytes per ~4 characters).
GROUP_CHARS = 1 << 20


class Encoder(Protocol):
    name: str  # "pieces" or "library", for the log

    def encode(self, texts: list[str]) -> list[list[int]]: ...


def _library_ids(tok: Tokenizer, texts: list[str]) -> list[list[int]]:
    return [e.ids for e in tok.encode_batch_fast(texts, add_special_tokens=False)]


class LibraryEncoder:
    """The `tokenizers` library on whole texts: any tokenizer."""

    name = "library"

    def __init__(self, tok: Tokenizer):
        self.tok = tok

    def encode(self, texts: list[str]) -> list[list[int]]:
        return _library_ids(self.tok, texts)


def split_pieces(text: str) -> list[str]:
    """The pre-tokenizer's pieces of `text`, except that a line with a non-ASCII character is one piece."""
    if text.isascii():
        return ASCII_PIECE.findall(text)
    pieces: list[str] = []
    for line in LINE.findall(text):
        if line.isascii():
            pieces += ASCII_PIECE.findall(line)
        else:
            pieces.append(line)
    return pieces


class PieceEncoder:
    """The DeepSeek-Coder tokenizer's ids through `split_pieces` and a cache of each piece's ids."""

    name = "pieces"

    def __init__(self, tok: Tokenizer, max_cached: int = DEFAULT_MAX_CACHED):
        self.tok = tok  # the whole pre-tokenizer: non-ASCII lines
        self.byte_level = Tokenizer(tok.model)  # the same BPE, only the byte-level mapping: ASCII pieces
        self.byte_level.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
        self.max_cached = max_cached
        self.cache: dict[str, list[int]] = {}

    def encode(self, texts: list[str]) -> list[list[int]]:
        out: list[list[int]] = []
        group: list[str] = []
        size = 0
        for t in texts:
            if len(t) > GROUP_CHARS:  # alone, in newline-ended pieces: lines are independent
                out += self._encode_group(group)
                group, size = [], 0
                ids: list[int] = []
                for part in line_chunks(t, GROUP_CHARS):
                    ids += self._encode_group([part])[0]
                out.append(ids)
                continue
            group.append(t)
            size += len(t)
            if size >= GROUP_CHARS:
                out += self._encode_group(group)
                group, size = [], 0
        return out + self._encode_group(group)

    def _encode_group(self, texts: list[str]) -> list[list[int]]:
        if not texts:
            return []
        split = [split_pieces(t) for t in texts]
        cache = self.cache
        missing = set(chain.from_iterable(split)).difference(cache)
        if len(cache) + len(missing) > self.max_cached:
            cache.clear()  # bounded memory; a batch's own pieces always fit below
            missing = set(chain.from_iterable(split))
        if missing:
            ascii_, other = [], []
            for p in missing:
                (ascii_ if p.isascii() else other).append(p)
            for pieces, tok in ((ascii_, self.byte_level), (other, self.tok)):
                if pieces:
                    cache.update(zip(pieces, _library_ids(tok, pieces)))
        get = cache.__getitem__
        return [list(chain.from_iterable(map(get, pieces))) for pieces in split]


def probe_text(seed: int = 0, length: int = 10_000) -> str:
    """Every ASCII character next to every class of neighbour: the split's self-check input."""
    rng = random.Random(seed)
    chars = [chr(i) for i in range(128)]
    common = " \t\n\r\x0b\x0cAz9._$+ "
    return "".join(rng.choice(chars) if rng.random() < 0.5 else rng.choice(common) for _ in range(length))


def check_split(tok: Tokenizer, text: str | None = None) -> bool:
    """Whether `split_pieces` cuts `text` (ASCII) exactly where the tokenizer's pre-tokenizer does."""
    text = probe_text() if text is None else text
    assert text.isascii()
    ours = split_pieces(text)  # the encoder's own path
    # The library returns pieces after the byte-level mapping; map ours the same way to compare.
    mapped = [p for p, _ in tok.pre_tokenizer.pre_tokenize_str(text)]
    table = _byte_level_table()
    return [p.translate(table) for p in ours] == mapped


def _byte_level_table() -> dict[int, str]:
    """Each ASCII character as the byte-level pre-tokenizer writes it (GPT-2's printable alphabet)."""
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    return {i: byte_level.pre_tokenize_str(chr(i))[0][0] for i in range(128)}


def piece_encoder(tok: Tokenizer, max_cached: int = DEFAULT_MAX_CACHED) -> Encoder:
    """PieceEncoder where it is exact for `tok` (a text encoder: no added tokens), else LibraryEncoder."""
    pre, norm = tok.pre_tokenizer, tok.normalizer
    no_normalizer = norm is None or json.loads(norm.__getstate__()) == {"type": "Sequence", "normalizers": []}
    exact = (no_normalizer and pre is not None
             and json.loads(pre.__getstate__()) == DEEPSEEK_CODER_PRE_TOKENIZER
             and isinstance(tok.model, models.BPE) and not tok.model.dropout
             and not tok.get_added_tokens_decoder() and check_split(tok))
    return PieceEncoder(tok, max_cached) if exact else LibraryEncoder(tok)
