"""Dedup quality on real code, measured against the exact Jaccard of the same shingle sets.

Standard-library files, near-copies with 0.5%-50% of their tokens replaced, exact copies and
unrelated files. Every pair of the corpus is scored exactly, so natural near-duplicates of the
standard library count too.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from scipy import sparse  # datasketch's dependency

sys.path.insert(0, str(Path(__file__).parent))
from dedup_fixtures import planted_corpus, read_parts, write_samples  # noqa: E402

from stages.core.runner import RunOptions  # noqa: E402
from stages.dedup.minhash import MinHasher  # noqa: E402
from stages.dedup.config import DedupConfig  # noqa: E402
from stages.dedup.stage import run  # noqa: E402


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    rows, planted = planted_corpus(n_originals=90, n_unrelated=60, seed=7)
    folder = write_samples(tmp_path_factory.mktemp("quality") / "in", rows, n_shards=3)
    ids = [r["sample_id"] for r in rows]
    flat, counts = MinHasher(backend="numpy").shingles(pa.array([r["text"] for r in rows], pa.large_string()))
    # Exact Jaccard of every pair at once: intersections from a sparse doc x shingle incidence product.
    doc = np.repeat(np.arange(len(rows)), counts)
    pairs = np.unique(np.stack([doc, flat.view(np.int64)]), axis=1)
    _, column = np.unique(pairs[1], return_inverse=True)
    incidence = sparse.csr_matrix((np.ones(pairs.shape[1]), (pairs[0], column)))
    inter = (incidence @ incidence.T).toarray()
    size = np.diag(inter)
    jac = inter / np.maximum(size[:, None] + size[None, :] - inter, 1)
    truth = {frozenset((ids[i], ids[j])): float(jac[i, j])
             for i, j in zip(*np.nonzero(np.triu(jac > 0.3, k=1)))}
    return folder, ids, truth, planted


def clustered_pairs(output: Path) -> set[frozenset]:
    """Pairs of samples that the run put in one cluster (survivor and removed members)."""
    rejected = read_parts(output / "_rejected")
    clusters: dict[int, set[str]] = {}
    for sid, cid, kept in zip(*(rejected[c].to_pylist() for c in ("sample_id", "cluster_id", "kept_sample_id"))):
        clusters.setdefault(cid, {kept}).add(sid)
    return {frozenset(p) for members in clusters.values() for p in itertools.combinations(sorted(members), 2)}


def measure(corpus, out: Path, **options) -> dict:
    folder, ids, truth, planted = corpus
    run(DedupConfig(input=folder, output=out, **options), RunOptions(output=out))
    predicted = clustered_pairs(out)
    similar = {p for p, j in truth.items() if j >= 0.8}
    recall = len(similar & predicted) / len(similar)
    precision = sum(truth.get(p, 0.0) >= 0.7 for p in predicted) / len(predicted)
    kept = set(read_parts(out)["sample_id"].to_pylist())
    return {"recall_at_0.8": recall, "precision_at_0.7": precision, "n_similar": len(similar),
            "n_predicted": len(predicted), "kept": kept}


@pytest.mark.parametrize("backend", ["rensa", "numpy"])
def test_recall_and_precision_against_exact_jaccard(corpus, tmp_path, backend):
    if backend == "rensa":
        pytest.importorskip("rensa")
    plain = measure(corpus, tmp_path / "plain", backend=backend)
    verified = measure(corpus, tmp_path / "verified", backend=backend, verify=True)
    print(f"\n{backend}: no verify {plain['recall_at_0.8']:.3f} recall (J>=0.8, {plain['n_similar']} pairs), "
          f"{plain['precision_at_0.7']:.3f} precision (J>=0.7, {plain['n_predicted']} clustered pairs); "
          f"--verify {verified['recall_at_0.8']:.3f} recall, {verified['precision_at_0.7']:.3f} precision")
    assert plain["n_similar"] >= 40
    assert plain["recall_at_0.8"] >= 0.95
    assert verified["recall_at_0.8"] >= 0.95
    assert verified["precision_at_0.7"] >= 0.95
    # Without --verify the LSH S-curve lets some pairs just under 0.7 through; they stay similar.
    assert plain["precision_at_0.7"] >= 0.8


def test_exact_copies_and_survivors(corpus, tmp_path):
    folder, ids, truth, planted = corpus
    out = tmp_path / "out"
    run(DedupConfig(input=folder, output=out), RunOptions(output=out))
    kept = read_parts(out)
    rejected = read_parts(out / "_rejected")
    assert kept.num_rows + rejected.num_rows == len(ids)
    kept_ids = set(kept["sample_id"].to_pylist())
    assert set(rejected["kept_sample_id"].to_pylist()) <= kept_ids  # each removed sample points at a survivor
    reason = dict(zip(rejected["sample_id"].to_pylist(), rejected["reason"].to_pylist()))
    for original, copy, rate in planted:
        if rate == 0.0:  # an exact copy: at most one of the two stays; if one does, the other is exact
            assert not (original in kept_ids and copy in kept_ids)
            if original in kept_ids or copy in kept_ids:
                assert reason[copy if original in kept_ids else original] == "exact_duplicate"
            else:  # the survivor is a near-copy that is larger (edits add characters)
                assert reason[copy] == reason[original] == "near_duplicate"
    # Same n_files and size: the smaller sample_id survives ("exact..." < "orig...").
    for original, copy, rate in planted:
        if rate == 0.0 and (original in kept_ids or copy in kept_ids):
            assert copy < original and copy in kept_ids
    assert set(rejected["reason"].to_pylist()) <= {"exact_duplicate", "near_duplicate"}
    assert "near_duplicate" in reason.values()
