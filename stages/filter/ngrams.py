"""Word n-grams for decontamination (paper §2.4), hashed to 64-bit integers column-wise.

Normalisation (the same on the benchmark side and the corpus side, ``NORMALISATION``):

* the text is taken as UTF-8 bytes and ASCII letters are lower-cased (``bytes.lower()``);
* a *word* is a maximal run of ASCII letters, digits, ``_`` or non-ASCII characters (any
  byte >= 0x80); everything else -- whitespace, punctuation, operators -- separates words
  and is dropped;
* n-grams never cross a row (document) boundary.

So re-indenting, re-wrapping, changing quotes, spacing around operators or the case of a
copy does not hide it. :func:`reference_words` is the same definition as a one-line regex
(the oracle of the tests and the tokenizer of the baseline in ``benchmarks/bench_decontam.py``).

Hashing, all numpy over the Arrow data buffer, in row blocks of ~1 MB:

* word hash: a polynomial hash mod 2^64 of the lower-cased bytes, from prefix sums
  (``(S[end] - S[start]) * B^-start``), then the splitmix64 finaliser;
* n-gram hash at token position i: ``sum_j h[i+j] * K^j`` mod 2^64 (K odd), from prefix
  sums over the tokens like the word hash; the n-gram of the tokens ``i .. i+n-1`` is *valid* when they lie in one row.

Collisions are possible in principle (64-bit hashes); at ~10^6 benchmark grams and ~10^12
corpus grams the expected number of false matches is ~10^-1 over a whole 10-TB run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stages.core.hashing import power_tables, splitmix64

NORMALISATION = "ascii-lower/words[0-9a-z_\\x80-\\xff]/v1"
_WORD_RE = re.compile(rb"[0-9a-z_\x80-\xff]+")

_BASE = 0x100000001B3  # FNV prime: odd, so invertible mod 2^64
_BLOCK_BYTES = 1 << 20


def _lower_word_table() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint8)
    for b in range(256):
        if b >= 0x80 or chr(b).isascii() and (chr(b).isalnum() or b == ord("_")):
            table[b] = ord(chr(b).lower()) if b < 0x80 else b
    return table


_LOWER_WORD = _lower_word_table()


def reference_words(text: str | None) -> list[bytes]:
    """The words of ``text`` under the normalisation above (slow, obviously correct)."""
    return _WORD_RE.findall((text or "").encode("utf-8").lower())




@dataclass
class Tokens:
    """Word hashes of a batch of rows: ``hashes[t]`` is word t, ``row[t]`` its row index."""

    hashes: np.ndarray  # uint64
    row: np.ndarray  # int64, non-decreasing

    def __len__(self) -> int:
        return len(self.hashes)


def tokenize(texts: pa.Array | pa.ChunkedArray) -> Tokens:
    """Word hashes of every row of a string array, in order."""
    if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        texts = texts.cast(pa.large_string())
    chunks = texts.chunks if isinstance(texts, pa.ChunkedArray) else [texts]
    parts, first_row = [], 0
    for chunk in chunks:
        for block, row0 in _blocks(chunk):
            tok = _block_tokens(block)
            tok.row += first_row + row0
            parts.append(tok)
        first_row += len(chunk)
    if not parts:
        return Tokens(np.zeros(0, np.uint64), np.zeros(0, np.int64))
    return Tokens(np.concatenate([p.hashes for p in parts]), np.concatenate([p.row for p in parts]))


def _offsets(arr: pa.Array) -> np.ndarray:
    off_type = np.int32 if pa.types.is_string(arr.type) else np.int64
    return np.frombuffer(arr.buffers()[1], dtype=off_type)[arr.offset: arr.offset + len(arr) + 1]


def _blocks(arr: pa.Array):
    """(row slice, index of its first row) of about ``_BLOCK_BYTES`` bytes each."""
    n = len(arr)
    if n == 0:
        return
    if arr.nbytes <= _BLOCK_BYTES:
        yield arr, 0
        return
    offsets = _offsets(arr)
    targets = np.arange(int(offsets[0]), int(offsets[-1]), _BLOCK_BYTES)
    cuts = np.unique(np.concatenate([np.searchsorted(offsets, targets), [n]]))
    prev = 0
    for cut in cuts.tolist():
        if cut > prev:
            yield arr.slice(prev, cut - prev), prev
            prev = cut


def _block_tokens(arr: pa.Array) -> Tokens:
    if arr.null_count:
        arr = pc.fill_null(arr, "")
    offsets = _offsets(arr)
    start, end = int(offsets[0]), int(offsets[-1])
    o = offsets.astype(np.int64) - start
    if end == start:
        return Tokens(np.zeros(0, np.uint64), np.zeros(0, np.int64))
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8, count=end - start, offset=start)
    n = data.size

    lower = _LOWER_WORD[data]  # lower-cased word bytes, 0 elsewhere
    word = lower != 0

    # A word starts where a word byte follows a non-word byte or a row start, and ends where
    # it is followed by a non-word byte or a row end.
    wi = word.view(np.int8)
    edge = np.empty(n + 1, dtype=np.int8)
    edge[0] = wi[0]
    edge[n] = -wi[n - 1]
    np.subtract(wi[1:], wi[:-1], out=edge[1:n])
    # Split words at row boundaries that fall between two word bytes.
    inner = np.unique(o[1:-1])
    inner = inner[(inner > 0) & (inner < n)]
    join = inner[word[inner] & word[inner - 1]]
    starts = np.flatnonzero(edge > 0)
    ends = np.flatnonzero(edge < 0)
    if len(join):
        starts = np.sort(np.concatenate([starts, join]))
        ends = np.sort(np.concatenate([ends, join]))
    if len(starts) == 0:
        return Tokens(np.zeros(0, np.uint64), np.zeros(0, np.int64))

    pw, inv = power_tables(_BASE, n)
    with np.errstate(over="ignore"):
        v = np.multiply(lower, pw, dtype=np.uint64)
        prefix = np.empty(n + 1, dtype=np.uint64)
        prefix[0] = 0
        np.cumsum(v, out=prefix[1:])
        h = prefix[ends] - prefix[starts]
        h *= inv[starts]
        h += (ends - starts).astype(np.uint64)  # length in: no structure shared between lengths
        splitmix64(h)
    # Tokens per row from the (few) row offsets, then one row index per token.
    per_row = np.diff(np.searchsorted(starts, o))
    return Tokens(h, np.repeat(np.arange(len(o) - 1, dtype=np.int64), per_row))


_GRAM_BASE = 0x6E789E6AA1B965F5  # splitmix64(2 * golden-ratio constant) | 1: odd

class GramPrefix:
    """Prefix sums over the token hashes, from which any n-gram hash is two gathers away:
    ``G_n(i) = sum_{j<n} h[i+j] * K^j = (P[i+n] - P[i]) * K^-i`` mod 2^64."""

    def __init__(self, tok: Tokens):
        self.tok = tok
        t = len(tok)
        pw, self.inv = power_tables(_GRAM_BASE, t + 1)
        with np.errstate(over="ignore"):
            self.prefix = np.empty(t + 1, dtype=np.uint64)
            self.prefix[0] = 0
            np.cumsum(tok.hashes * pw[:t], out=self.prefix[1:])

    def grams(self, n: int, positions: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(hash, valid) of the n-grams starting at ``positions`` (default: every token).

        valid: the n tokens exist and lie in one row.
        """
        t = len(self.tok)
        row = self.tok.row
        with np.errstate(over="ignore"):
            if positions is None:
                m = max(t - n + 1, 0)
                g = self.prefix[n: n + m] - self.prefix[:m]
                g *= self.inv[:m]
                return g, row[n - 1: n - 1 + m] == row[:m]
            p = np.asarray(positions, dtype=np.int64)
            inside = p + n <= t
            q = np.where(inside, p, 0)
            last = np.where(inside, q + n, 0)
            g = (self.prefix[last] - self.prefix[q]) * self.inv[q]
            valid = inside & (row[np.maximum(last - 1, 0)] == row[q])
            return np.where(inside, g, np.uint64(0)), valid


def gram_hashes(tok: Tokens, n: int, positions: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(hash, valid) of the n-grams starting at ``positions``; see GramPrefix."""
    return GramPrefix(tok).grams(n, positions)


class HashSet:
    """A sorted uint64 key array with a value per key, and a bitmap prefilter.

    ``lookup`` answers for millions of query hashes with a gather from a bitmap of about
    128 bits per key (so ~1% of misses reach the binary search), then ``searchsorted`` for
    the few candidates.
    """

    def __init__(self, keys: np.ndarray, values: np.ndarray):
        order = np.argsort(keys, kind="stable")
        self.keys = np.ascontiguousarray(keys[order], dtype=np.uint64)
        self.values = np.ascontiguousarray(values[order], dtype=np.int64)
        bits = max(16, min(34, int(max(len(keys), 1) * 128 - 1).bit_length()))
        self._shift = np.uint64(64 - bits)
        slots = (self.keys >> self._shift).astype(np.int64)
        bitmap = np.zeros(1 << max(bits - 3, 0), dtype=np.uint8)
        np.bitwise_or.at(bitmap, slots >> 3, (np.uint8(1) << (slots & 7).astype(np.uint8)))
        self._bitmap = bitmap

    def __len__(self) -> int:
        return len(self.keys)

    def lookup(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(indices of the queries found, their values)."""
        if len(self.keys) == 0 or len(queries) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        slots = queries >> self._shift
        maybe = (self._bitmap[slots >> np.uint64(3)] >> (slots & np.uint64(7)).astype(np.uint8)) & 1
        cand = np.flatnonzero(maybe)
        if len(cand) == 0:
            return cand, np.zeros(0, np.int64)
        q = queries[cand]
        idx = np.searchsorted(self.keys, q)
        idx[idx == len(self.keys)] = 0
        hit = self.keys[idx] == q
        return cand[hit], self.values[idx[hit]]
