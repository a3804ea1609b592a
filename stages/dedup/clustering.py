"""Grouping: LSH buckets into candidate edges, edges into clusters, one survivor per cluster.

Everything is keyed by a sample's *key*, `shard_index << 32 | row` (uint64): unique, stable across
ranks and re-runs, and ordered like the input. Memory grows with the number of samples that have a
duplicate, not with the corpus: buckets emit edges only for buckets of two or more samples, and the
union-find runs over the endpoints of those edges only.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .config import SURVIVOR_RULE  # noqa: F401  (the rule implemented here)


def make_key(shard_index: int, rows: np.ndarray | int) -> np.ndarray:
    return (np.uint64(shard_index) << np.uint64(32)) | np.asarray(rows, dtype=np.uint64)


def key_shard(keys: np.ndarray) -> np.ndarray:
    return (np.asarray(keys, dtype=np.uint64) >> np.uint64(32)).astype(np.int64)


def key_row(keys: np.ndarray) -> np.ndarray:
    return (np.asarray(keys, dtype=np.uint64) & np.uint64(0xFFFFFFFF)).astype(np.int64)


def bucket_edges(hashes: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Samples sharing a hash (one LSH band, or the exact content hash) form a bucket.

    `hashes` is (n,) or (n, w) uint64. Returns edges (member, representative) for every bucket of
    two or more, the representative being the bucket's smallest key: a star, so a bucket of m
    samples gives m-1 edges rather than m(m-1)/2 pairs.
    """
    if keys.size < 2:
        return np.zeros(0, np.uint64), np.zeros(0, np.uint64)
    hashes = hashes.reshape(keys.size, -1)
    order = np.lexsort((keys,) + tuple(hashes[:, j] for j in range(hashes.shape[1] - 1, -1, -1)))
    h = hashes[order]
    k = keys[order]
    new_bucket = np.ones(k.size, dtype=bool)
    new_bucket[1:] = (h[1:] != h[:-1]).any(axis=1)
    bucket_id = np.cumsum(new_bucket) - 1
    rep = k[np.flatnonzero(new_bucket)][bucket_id]
    member = ~new_bucket
    return k[member], rep[member]


def connected_components(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Union-find over edges a[i] -- b[i], vectorised (hook to the smaller root, then compress).

    Returns (nodes, component label per node), the label being the smallest key of the
    component. Memory is O(edges); rounds are O(log n) in practice.
    """
    if a.size == 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.uint64)
    nodes, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
    ia, ib = inverse[:a.size].astype(np.int64), inverse[a.size:].astype(np.int64)
    parent = np.arange(nodes.size, dtype=np.int64)  # index order == key order: roots are minimal keys
    while True:
        ra, rb = parent[ia], parent[ib]
        differ = ra != rb
        if not differ.any():
            break
        lo, hi = np.minimum(ra[differ], rb[differ]), np.maximum(ra[differ], rb[differ])
        np.minimum.at(parent, hi, lo)  # hook the larger root under the smaller
        while True:  # pointer jumping until every node points at its root
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
    return nodes, nodes[parent]


def removal_map(members: pa.Table, component: np.ndarray) -> pa.Table:
    """One row per removed sample: which cluster it belongs to and which sample survives it.

    `members` has key, sample_id, n_files, size, content_hash (fixed 16 bytes), one row per sample
    in a cluster; `component` gives each row's cluster label. The survivor of a cluster is the sample
    with the most files (a whole repository beats a copy of one of its files), then the largest,
    then the smallest sample_id -- deterministic and independent of input order.
    """
    t = members.append_column("cluster_id", pa.array(component.astype(np.int64)))
    t = t.sort_by([("cluster_id", "ascending"), ("n_files", "descending"), ("size", "descending"),
                   ("sample_id", "ascending")])
    cid = t["cluster_id"].to_numpy()
    first = np.ones(cid.size, dtype=bool)
    first[1:] = cid[1:] != cid[:-1]
    survivor_row = np.flatnonzero(first)[np.cumsum(first) - 1]
    survivor = t.take(pa.array(survivor_row))
    same_content = pc.equal(t["content_hash"], survivor["content_hash"]).to_numpy(zero_copy_only=False)
    reason = np.where(same_content, "exact_duplicate", "near_duplicate")
    keys = t["key"].to_numpy()
    out = pa.table({
        "key": pa.array(keys, pa.uint64()),
        "shard": pa.array(key_shard(keys).astype(np.int32)),
        "row": pa.array(key_row(keys)),
        "sample_id": t["sample_id"],
        "cluster_id": t["cluster_id"],
        "kept_sample_id": survivor["sample_id"],
        "reason": pa.array(reason, pa.string()),
    })
    out = out.filter(pa.array(~first))
    return out.sort_by([("key", "ascending")])
