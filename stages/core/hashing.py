"""64-bit hashing pieces shared by dedup (MinHash shingles) and decontam (n-gram hashes)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, in place on a uint64 array (a bijection with good avalanche)."""
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def power_tables(base: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """`powers_mod_2_64(base, n)` from a cached table of the next power of two (at least 2^20): the
    batches of a stage have a new length each time, and an exact-size cache would miss every one."""
    size = 1 << max(20, int(n - 1).bit_length())
    pw, inv = powers_mod_2_64(base, size)
    return pw[:n], inv[:n]


@lru_cache(maxsize=8)
def powers_mod_2_64(base: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """B^k and B^-k mod 2^64 for k < n (uint64 arithmetic wraps, which is the modulus); B odd.

    The inverse powers let a rolling polynomial hash of any window be read off prefix sums.
    """
    inverse = pow(base, -1, 1 << 64)
    out = []
    with np.errstate(over="ignore"):
        for b in (base, inverse):
            p = np.full(n, b, dtype=np.uint64)
            p[0] = 1
            np.multiply.accumulate(p, out=p)
            out.append(p)
    return out[0], out[1]
