"""The signature pieces alone: tokens and shingles match their definition, signatures track Jaccard,
LSH parameters match datasketch's, union-find and survivor choice."""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from dedup_fixtures import edit_tokens, stdlib_files  # noqa: E402

from stages.dedup.clustering import bucket_edges, connected_components, removal_map  # noqa: E402
from stages.dedup.lsh import optimal_bands  # noqa: E402
from stages.dedup.minhash import MinHasher, exact_jaccard  # noqa: E402

NON_ALPHA = re.compile(r"[^A-Za-z_0-9]")  # BigCode's tokeniser


def python_shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    tokens = [t for t in NON_ALPHA.split(text) if t]
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


def test_vectorised_shingles_equal_the_python_definition():
    texts = [t for _, t in stdlib_files(12, seed=3)]
    texts += ["", "a b c d", "a b c d e", "naïve café x_1 y2 Z3 __init__ ünïcode a b", "(((", "x" * 10,
              "end of one doc", "start of next doc and more tokens here"]  # tokens never span documents
    flat, counts = MinHasher(backend="numpy").shingles(pa.array(texts, pa.large_string()))
    for text, sh in zip(texts, np.split(flat, np.cumsum(counts)[:-1])):
        expected = python_shingles(text)  # non-ASCII characters split tokens in both
        assert sh.size == max(0, len([t for t in NON_ALPHA.split(text) if t]) - 4)
        assert np.unique(sh).size == len(expected)  # one hash per distinct 5-gram (no collisions)


def test_exact_jaccard_of_hashes_equals_jaccard_of_token_tuples():
    rng = random.Random(1)
    hasher = MinHasher(backend="numpy")
    for _, text in stdlib_files(6, seed=5):
        copy = edit_tokens(text, 0.03, rng)
        flat, counts = hasher.shingles(pa.array([text, copy], pa.large_string()))
        a, b = np.split(flat, [counts[0]])
        sa, sb = python_shingles(text), python_shingles(copy)
        assert exact_jaccard(a, b) == pytest.approx(len(sa & sb) / len(sa | sb))


@pytest.mark.parametrize("backend", ["rensa", "numpy"])
def test_signature_agreement_tracks_jaccard(backend):
    if backend == "rensa":
        pytest.importorskip("rensa")
    rng = random.Random(2)
    hasher = MinHasher(backend=backend, seed=11)
    errors = []
    for _, text in stdlib_files(20, seed=9, min_bytes=8000):
        copy = edit_tokens(text, rng.choice([0.01, 0.03, 0.08]), rng)
        sig, _ = hasher.signatures(pa.array([text, copy], pa.large_string()))
        flat, counts = hasher.shingles(pa.array([text, copy], pa.large_string()))
        truth = exact_jaccard(*np.split(flat, [counts[0]]))
        errors.append(float(np.mean(sig[0] == sig[1])) - truth)
    errors = np.array(errors)
    # 256 permutations: standard error sqrt(J(1-J)/256) <= 0.031; no bias.
    assert np.abs(errors).max() < 0.1 and abs(errors.mean()) < 0.03
    again, _ = MinHasher(backend=backend, seed=11).signatures(pa.array([text], pa.large_string()))
    assert np.array_equal(again[0], sig[0])  # same seed, same family: what every rank relies on
    other, _ = MinHasher(backend=backend, seed=12).signatures(pa.array([text], pa.large_string()))
    assert not np.array_equal(other[0], sig[0])


def test_short_samples_have_no_shingles():
    sig, counts = MinHasher(backend="numpy").signatures(pa.array(["a b c d", "", None], pa.large_string()))
    assert counts.tolist() == [0, 0, 0]


@pytest.mark.parametrize("threshold,num_perm", [(0.7, 256), (0.5, 128), (0.85, 64)])
def test_optimal_bands_match_datasketch(threshold, num_perm):
    from datasketch.lsh import _optimal_param
    assert optimal_bands(threshold, num_perm) == _optimal_param(threshold, num_perm, 0.5, 0.5)


def test_union_find_equals_brute_force():
    rng = np.random.default_rng(0)
    keys = rng.choice(10_000, 400, replace=False).astype(np.uint64)
    a, b = rng.choice(keys, 300), rng.choice(keys, 300)
    nodes, label = connected_components(a, b)
    # Brute force: repeated relaxation on a dict.
    comp = {int(k): int(k) for k in np.concatenate([a, b])}
    changed = True
    while changed:
        changed = False
        for x, y in zip(a.tolist(), b.tolist()):
            m = min(comp[x], comp[y])
            if comp[x] != m or comp[y] != m:
                comp[x] = comp[y] = m
                changed = True
    assert dict(zip(nodes.tolist(), label.tolist())) == comp


def test_bucket_edges_are_stars_to_the_smallest_key():
    hashes = np.array([5, 7, 5, 9, 5, 7], dtype=np.uint64)
    keys = np.array([30, 20, 10, 40, 50, 60], dtype=np.uint64)
    a, b = bucket_edges(hashes, keys)
    assert sorted(zip(a.tolist(), b.tolist())) == [(30, 10), (50, 10), (60, 20)]


def test_survivor_most_files_then_largest_then_smallest_id():
    members = pa.table({
        "key": pa.array([1, 2, 3, 4, 5], pa.uint64()),
        "sample_id": ["c#0", "b#0", "a#0", "z#0", "y#0"],
        "n_files": [1, 3, 3, 1, 1], "size": [900, 100, 100, 50, 60],
        "content_hash": pa.array([b"x" * 16, b"y" * 16, b"y" * 16, b"q" * 16, b"r" * 16], pa.binary(16)),
    })
    out = removal_map(members, np.array([1, 1, 1, 4, 4], dtype=np.uint64))
    rows = {r["sample_id"]: r for r in out.to_pylist()}
    assert set(rows) == {"c#0", "b#0", "z#0"}
    assert rows["c#0"]["kept_sample_id"] == "a#0" and rows["c#0"]["reason"] == "near_duplicate"
    assert rows["b#0"]["kept_sample_id"] == "a#0" and rows["b#0"]["reason"] == "exact_duplicate"
    assert rows["z#0"]["kept_sample_id"] == "y#0" and rows["z#0"]["cluster_id"] == 4
