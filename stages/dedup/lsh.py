"""Choosing the LSH banding for a Jaccard threshold (datasketch's `_optimal_param`)."""

from __future__ import annotations

import numpy as np


def optimal_bands(threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) minimising the weighted false-positive + false-negative areas at `threshold`.

    The search of datasketch's `MinHashLSH._optimal_param`, with the integrals done by the
    trapezoid rule on a fine grid (no scipy): the same choice for the defaults, (b, r) with b*r <= k.
    """
    s_lo = np.linspace(0.0, threshold, 2001)
    s_hi = np.linspace(threshold, 1.0, 2001)
    best, opt = float("inf"), (0, 0)
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = np.trapezoid(1 - (1 - s_lo ** r) ** b, s_lo)
            fn = np.trapezoid((1 - s_hi ** r) ** b, s_hi)
            err = fp * fp_weight + fn * fn_weight
            if err < best:
                best, opt = err, (b, r)
    return opt
