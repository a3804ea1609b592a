"""pass@k with the unbiased estimator of Chen et al. 2021 (the paper's §4 and DeepSeek's scripts).

For a task with n samples of which c pass, pass@k = 1 − C(n−c, k) / C(n, k): the probability that
at least one of k samples drawn without replacement passes. The benchmark's score is the mean over
tasks; it is defined only when every task has at least k samples, except that a task with no sample
at all (no generation, not executed) counts as failed: 0 for every k.
"""

from __future__ import annotations

from math import comb
from typing import Iterable, Optional

DEFAULT_KS = (1, 10, 100)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Exact: 1 − C(n−c, k)/C(n, k), computed with integers (no floating-point cancellation)."""
    if not 0 <= c <= n or k < 1:
        raise ValueError(f"need 0 <= c <= n and k >= 1 (n={n}, c={c}, k={k})")
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples per task (n={n})")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def mean_pass_at_k(counts: Iterable[tuple[int, int]], k: int) -> Optional[float]:
    """Mean over tasks of pass@k for (n, c) pairs, a task with n = 0 counting 0; None when some task
    has 0 < n < k samples (or there is no task)."""
    counts = list(counts)
    if not counts or any(0 < n < k for n, _ in counts):
        return None
    return sum(pass_at_k(n, c, k) if n else 0.0 for n, c in counts) / len(counts)


def scores(counts: Iterable[tuple[int, int]], ks: Iterable[int] = DEFAULT_KS) -> dict[str, float]:
    """{"pass@1": …, "pass@10": …} for every k that all tasks have enough samples for."""
    counts = list(counts)
    out = {}
    for k in ks:
        value = mean_pass_at_k(counts, k)
        if value is not None:
            out[f"pass@{k}"] = value
    return out
