"""Vectorised MinHash signatures of whole samples (paper §2.3, BigCode's near-dedup defaults).

A shard's texts are processed as one UTF-8 byte buffer (Arrow's own string buffer, no copy per
document), so Python never loops over tokens or shingles:

1. **tokens**: maximal runs of `[A-Za-z_0-9]` bytes, i.e. the text split on `[^A-Za-z_0-9]` as in
   BigCode's `NON_ALPHA`, with empty tokens dropped. Case, digits and every non-ASCII byte are kept
   as they are except that non-ASCII bytes split tokens like punctuation does: code-aware, no
   punctuation stripping or digit folding (the datatrove normalisation we leave out, STYLE.md).
2. **token hashes**: a 64-bit polynomial hash of each token's bytes, computed for all tokens at once
   from a prefix sum over the buffer (`H[e] - H[s]`, divided by `B^s` through the inverse power,
   all mod 2^64), then a splitmix64 finaliser. Each token is hashed once.
3. **shingle hashes**: each window of `ngram` consecutive tokens of one sample is combined from its
   token hashes by a multiply-add with fixed odd constants and finalised again -- `ngram - 1`
   vectorised array operations, whatever the number of shingles.
4. **permutations**: `num_perm` min-wise hashes per sample. Backend `rensa` (Rust, pre-hashed
   shingles in one flat buffer + row offsets) or `numpy` (`(a*x + b) >> 32`, Dietzfelbinger's
   multiply-shift family over the 32-bit shingle key, with `a, b` drawn from `seed`). Both are
   universal families, so P[equal minimum] tracks the Jaccard similarity of the shingle sets; they do
   not give identical values, so every rank of one run must use the same backend and seed (both are
   recorded in the manifest).
5. **band hashes**: rows of the signature grouped into `bands x rows` (chosen like datasketch's
   `_optimal_param`: minimal false-positive + false-negative area at the threshold), each band
   reduced to one 64-bit hash; two samples are LSH candidates when they share a band hash.

Samples with fewer than `ngram` tokens have no shingles; they get no band hashes and are
deduplicated only by their exact content hash.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from stages.core.errors import UsageError
from stages.core.hashing import powers_mod_2_64, splitmix64

from .config import DedupConfig

M64 = (1 << 64) - 1
_TOKEN_BASE = np.uint64(0x9E3779B97F4A7C15 | 1)  # odd: invertible mod 2^64
# Below this many bytes a batch's power tables are cached and reused; bigger batches build their own.
_BATCH_BYTES = 1 << 22

_WORD_BYTE = np.zeros(256, dtype=bool)
for _c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_0123456789":
    _WORD_BYTE[_c] = True


BACKENDS = ("rensa", "numpy")


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    return powers_mod_2_64(int(_TOKEN_BASE), n)


def string_buffers(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(bytes as uint8, int64 offsets of n+1 entries) of a string column, without a per-row copy.

    Nulls count as empty strings.
    """
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_string(arr.type):
        arr = arr.cast(pa.large_string())
    if arr.null_count:
        arr = arr.fill_null("")
    n = len(arr)
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int64)[arr.offset:arr.offset + n + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    return data, offsets


def token_hashes(data: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hash every token of every document; returns (token hashes, tokens per document).

    `data[offsets[i]:offsets[i+1]]` is document i. Tokens never span two documents.
    """
    base = int(offsets[0])
    data = data[base:int(offsets[-1])]
    offsets = offsets - base
    n = data.size
    n_docs = offsets.size - 1
    if n == 0:
        return np.zeros(0, np.uint64), np.zeros(n_docs, np.int64)
    word = _WORD_BYTE[data]
    # A token starts at a word byte whose predecessor is not a word byte or lies in another document.
    starts_mask = word.copy()
    starts_mask[1:] &= ~word[:-1]
    ends_mask = word.copy()  # ... and ends at a word byte whose successor is not one
    ends_mask[:-1] &= ~word[1:]
    doc_starts = offsets[:-1][offsets[:-1] < offsets[1:]]  # non-empty documents only
    starts_mask[doc_starts] = word[doc_starts]
    ends_mask[offsets[1:][offsets[:-1] < offsets[1:]] - 1] = word[offsets[1:][offsets[:-1] < offsets[1:]] - 1]
    starts = np.flatnonzero(starts_mask)
    ends = np.flatnonzero(ends_mask) + 1
    if n <= _BATCH_BYTES:
        p, q = _powers(_BATCH_BYTES + 1)
    else:
        p, q = powers_mod_2_64.__wrapped__(int(_TOKEN_BASE), n + 1)
    with np.errstate(over="ignore"):
        prefix = np.empty(n + 1, dtype=np.uint64)
        prefix[0] = 0
        np.multiply(data, p[:n], out=prefix[1:], dtype=np.uint64)
        np.add.accumulate(prefix, out=prefix)
        tokens = (prefix[ends] - prefix[starts]) * q[starts]
    splitmix64(tokens)
    per_doc = np.diff(np.searchsorted(starts, offsets))
    return tokens, per_doc


_SHINGLE_MULT = np.array([0xD6E8FEB86659FD93, 0xA0761D6478BD642F, 0xE7037ED1A0B428DB,
                          0x8EBC6AF09C88C6E3, 0x589965CC75374CC3, 0x1D8E4E27C47D124F,
                          0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9], dtype=np.uint64)


def shingle_hashes(tokens: np.ndarray, per_doc: np.ndarray, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of every window of `ngram` consecutive tokens within a document.

    Returns (shingle hashes in document order, shingles per document). Documents with fewer than
    `ngram` tokens get none.
    """
    if ngram > len(_SHINGLE_MULT):
        mult = np.random.default_rng(ngram).integers(1, 1 << 63, ngram, dtype=np.uint64) * 2 + 1
    else:
        mult = _SHINGLE_MULT[:ngram]
    per_doc_sh = np.maximum(per_doc - (ngram - 1), 0)
    m = tokens.size - (ngram - 1)
    if m <= 0 or not per_doc_sh.any():
        return np.zeros(0, np.uint64), per_doc_sh
    with np.errstate(over="ignore"):
        acc = tokens[:m] * mult[0]
        for k in range(1, ngram):
            acc += tokens[k:k + m] * mult[k]
    splitmix64(acc)
    # A window is valid when it starts at least ngram-1 tokens before its document's end.
    doc_end = np.cumsum(per_doc)
    doc_of = np.repeat(np.arange(per_doc.size), per_doc)[:m]
    valid = np.arange(m) + (ngram - 1) < doc_end[doc_of]
    return acc[valid], per_doc_sh


@dataclass(frozen=True)
class MinHasher:
    """Signature computation with one fixed hash family; equal settings give equal signatures."""

    num_perm: int = DedupConfig.num_perm  # defaults: the dedup stage's (config.py)
    ngram: int = DedupConfig.ngram
    seed: int = DedupConfig.seed
    backend: str = DedupConfig.backend

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise UsageError(f"unknown MinHash backend {self.backend!r}; known: {', '.join(BACKENDS)}")
        if self.backend == "rensa":
            try:
                import rensa  # noqa: F401
            except ImportError as exc:
                raise UsageError("MinHash backend `rensa` needs `pip install rensa`; "
                                 "or use --minhash-backend numpy") from exc

    def family(self) -> dict:
        """What identifies the hash family (recorded in the manifest: ranks must agree)."""
        out = {"backend": self.backend, "num_perm": self.num_perm, "seed": self.seed, "ngram": self.ngram,
               "token_hash": "poly64-splitmix/v1", "shingle_hash": "muladd-splitmix/v1"}
        if self.backend == "rensa":
            import rensa
            out["rensa_algorithm_version"] = int(getattr(rensa.RMinHash, "ALGORITHM_VERSION", 0))
        else:
            out["permutation"] = "multiply-shift-32/v1"
        return out

    @property
    def _coefficients(self) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        a = rng.integers(0, 1 << 63, self.num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        b = rng.integers(0, 1 << 63, self.num_perm, dtype=np.uint64)
        return a, b

    def shingles(self, texts: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """(flat shingle hashes, shingles per document) of a string column."""
        data, offsets = string_buffers(texts)
        sh_parts, counts = [], []
        for lo, hi, tokens, per_doc in _token_batches(data, offsets):
            sh, per = shingle_hashes(tokens, per_doc, self.ngram)
            sh_parts.append(sh)
            counts.append(per)
        if not counts:
            return np.zeros(0, np.uint64), np.zeros(0, np.int64)
        return np.concatenate(sh_parts), np.concatenate(counts)

    def signatures(self, texts: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """(uint32 signatures, shape (n, num_perm); shingles per document) of a string column.

        Rows of documents without shingles are all 0xFFFFFFFF; callers must skip them.
        """
        data, offsets = string_buffers(texts)
        n = offsets.size - 1
        out = np.full((n, self.num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
        counts = np.zeros(n, np.int64)
        for lo, hi, tokens, per_doc in _token_batches(data, offsets):
            sh, per = shingle_hashes(tokens, per_doc, self.ngram)
            counts[lo:hi] = per
            if sh.size:
                out[lo:hi] = self._permute(sh, per)
        return out, counts

    def _permute(self, shingles: np.ndarray, per_doc: np.ndarray) -> np.ndarray:
        row_offsets = np.zeros(per_doc.size + 1, dtype=np.uint64)
        np.cumsum(per_doc, out=row_offsets[1:])
        if self.backend == "rensa":
            import rensa
            matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(
                shingles, row_offsets, self.num_perm, self.seed)
            sig = np.asarray(matrix.to_rows(), dtype=np.uint32).reshape(per_doc.size, self.num_perm)
            sig[per_doc == 0] = np.iinfo(np.uint32).max
            return sig
        return _numpy_permute(shingles, per_doc, *self._coefficients)


def _numpy_permute(shingles, per_doc, a, b, chunk: int = 1024) -> np.ndarray:
    """min over each document's shingles of (a*x + b) >> 32, x = the shingle hash's top 32 bits."""
    n_docs, k = per_doc.size, a.size
    out = np.full((n_docs, k), np.iinfo(np.uint32).max, dtype=np.uint32)
    keys = shingles >> np.uint64(32)
    doc_of = np.repeat(np.arange(n_docs), per_doc)
    work = np.empty((chunk, k), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for lo in range(0, keys.size, chunk):
            x = keys[lo:lo + chunk]
            w = work[:x.size]
            np.multiply(x[:, None], a[None, :], out=w)
            w += b
            w >>= np.uint64(32)
            d = doc_of[lo:lo + chunk]
            cuts = np.flatnonzero(np.r_[True, d[1:] != d[:-1]])
            mins = np.minimum.reduceat(w, cuts, axis=0).astype(np.uint32)
            rows = d[cuts]
            np.minimum(out[rows], mins, out=mins)
            out[rows] = mins
    return out


def _token_batches(data: np.ndarray, offsets: np.ndarray):
    """(lo, hi, token hashes, tokens per document) of document batches of about _BATCH_BYTES.

    A document larger than that (a repository-level sample of 50 MB) is hashed in pieces cut at
    non-word bytes: a token's hash depends only on its own bytes, so the tokens are the same as in
    one pass, while the prefix sums and power tables stay the size of a batch, not of the document.
    """
    for lo, hi in _batches(offsets):
        start, end = int(offsets[lo]), int(offsets[hi])
        if hi - lo > 1 or end - start <= _BATCH_BYTES:
            yield (lo, hi, *token_hashes(data, offsets[lo:hi + 1]))
            continue
        parts = [token_hashes(data, np.array([a, b], dtype=np.int64))[0] for a, b in _pieces(data, start, end)]
        tokens = np.concatenate(parts) if parts else np.zeros(0, np.uint64)
        yield lo, hi, tokens, np.array([tokens.size], dtype=np.int64)


def _pieces(data: np.ndarray, start: int, end: int, target: int = _BATCH_BYTES):
    """Byte ranges [a, b) covering [start, end), each of about `target` bytes, cut only before a
    byte that is not a word byte (so no token spans two ranges)."""
    a = start
    while a < end:
        b = min(a + target, end)
        while b < end and _WORD_BYTE[data[b]]:
            step = data[b:min(b + 4096, end)]
            non_word = np.flatnonzero(~_WORD_BYTE[step])
            b = b + int(non_word[0]) if non_word.size else min(b + 4096, end)
        yield a, b
        a = b


def _batches(offsets: np.ndarray, target: int = _BATCH_BYTES):
    """Document ranges [lo, hi) of about `target` bytes (a bigger document is a batch alone)."""
    n = offsets.size - 1
    lo = 0
    while lo < n:
        hi = int(np.searchsorted(offsets, offsets[lo] + target, side="right")) - 1
        hi = max(hi, lo + 1)
        yield lo, min(hi, n)
        lo = min(hi, n)


# -- LSH parameters and band hashes -----------------------------------------------------------------

def band_hashes(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n, bands) uint64: each band's `rows` signature values combined into one 64-bit hash."""
    n = signatures.shape[0]
    sig = signatures[:, :bands * rows].reshape(n, bands, rows).astype(np.uint64)
    mult = np.random.default_rng(0xBA4D).integers(0, 1 << 63, rows, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    with np.errstate(over="ignore"):
        acc = np.zeros((n, bands), dtype=np.uint64)
        for r in range(rows):
            acc = splitmix64(acc + sig[:, :, r] * mult[r])
    return acc


def exact_jaccard(a: np.ndarray, b: np.ndarray, assume_unique: bool = False) -> float:
    """Jaccard similarity of two sets of shingle hashes (duplicates within one set ignored;
    `assume_unique`: both are already sorted unique arrays)."""
    if not assume_unique:
        a, b = np.unique(a), np.unique(b)
    if a.size == 0 and b.size == 0:
        return 1.0
    inter = np.intersect1d(a, b, assume_unique=True).size
    return inter / (a.size + b.size - inter)
