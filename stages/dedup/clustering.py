"""Grouping: LSH buckets into candidate edges, edges into clusters, one survivor per cluster.

Everything is keyed by a sample's *key*, `unit_index << 32 | row` (the unit of the input and the row
within it, stages/dedup/stage.py; uint64): unique, stable across
ranks and re-runs, and ordered like the input. Memory grows with the number of samples that have a
duplicate, not with the corpus: buckets emit edges only for buckets of two or more samples, and the
union-find runs over the endpoints of those edges only.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .config import PERMISSIVE_LICENSES, PREFER, SURVIVOR_RULE  # noqa: F401  (the rule implemented here)

_LAST = np.iinfo(np.int64).max  # rank of a sample without the metadata: after every sample with it


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


def preference_ranks(samples: pa.Table, prefer: tuple[str, ...]) -> dict[str, pa.Array]:
    """`prefer_<key>` int64 columns for `--prefer` keys: the smaller, the more preferred.

    stars: most first; license: permissive (PERMISSIVE_LICENSES), then any other, then none;
    recent / oldest: the newest / oldest repo_created_at first. Missing values rank last.
    """
    out = {}
    for key in prefer:
        column = samples[PREFER[key][0]]
        if key == "stars":
            rank = pc.negate(column.cast(pa.int64()))
        elif key == "license":
            permissive = pc.is_in(column, value_set=pa.array(sorted(PERMISSIVE_LICENSES), column.type))
            rank = pc.if_else(permissive, 0, pc.if_else(pc.is_valid(column), 1, 2)).cast(pa.int64())
        else:
            tz = column.type.tz if pa.types.is_timestamp(column.type) else None
            micros = column.cast(pa.timestamp("us", tz)).cast(pa.int64())
            rank = pc.negate(micros) if key == "recent" else micros
        out[f"prefer_{key}"] = pc.fill_null(rank, _LAST)
    return out


def removal_map(members: pa.Table, component: np.ndarray, prefer: tuple[str, ...] = ()) -> pa.Table:
    """One row per removed sample: which cluster it belongs to and which sample survives it.

    `members` has key, sample_id, n_files, size, content_hash (fixed 16 bytes) and a `prefer_<key>`
    rank per `prefer` key, one row per sample in a cluster; `component` gives each row's cluster
    label. The survivor of a cluster is the best by the `prefer` ranks in order (none by default),
    then the sample with the most files (a whole repository beats a copy of one of its files),
    then the largest, then the smallest sample_id -- deterministic and independent of input order.
    """
    t = members.append_column("cluster_id", pa.array(component.astype(np.int64)))
    t = t.sort_by([("cluster_id", "ascending")] + [(f"prefer_{k}", "ascending") for k in prefer]
                  + [("n_files", "descending"), ("size", "descending"), ("sample_id", "ascending")])
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
