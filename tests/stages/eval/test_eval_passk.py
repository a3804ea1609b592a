"""pass@k: the unbiased estimator 1 - C(n-c,k)/C(n,k), checked against its definition."""

import itertools
import random
from fractions import Fraction
from math import comb

import pytest

from stages.eval.passk import mean_pass_at_k, pass_at_k, scores


def brute_force(n, c, k):
    """P(at least one of k samples drawn without replacement passes), by enumeration."""
    items = [1] * c + [0] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return Fraction(sum(1 for s in subsets if any(items[i] for i in s)), len(subsets))


@pytest.mark.parametrize("n,c,k", [(n, c, k) for n in range(1, 9) for c in range(n + 1) for k in (1, 2, 3, 5, 8) if k <= n])
def test_pass_at_k_matches_definition(n, c, k):
    assert pass_at_k(n, c, k) == pytest.approx(float(brute_force(n, c, k)), abs=1e-12)


def test_pass_at_k_exact_formula_large_n():
    rng = random.Random(0)
    for _ in range(200):
        n = rng.randint(100, 200)
        c = rng.randint(0, n)
        for k in (1, 10, 100):
            exact = 1 - Fraction(comb(n - c, k), comb(n, k))
            assert pass_at_k(n, c, k) == pytest.approx(float(exact), rel=1e-12, abs=1e-15)
    assert pass_at_k(200, 3, 1) == pytest.approx(3 / 200)
    assert pass_at_k(10, 0, 10) == 0.0 and pass_at_k(10, 1, 10) == 1.0


def test_mean_and_scores():
    counts = [(10, 0), (10, 5), (10, 10)]
    assert mean_pass_at_k(counts, 1) == pytest.approx((0 + 0.5 + 1) / 3)
    assert mean_pass_at_k(counts, 11) is None
    s = scores(counts)
    assert set(s) == {"pass@1", "pass@10"}  # pass@100 needs n >= 100
    assert s["pass@10"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        pass_at_k(5, 6, 1)
