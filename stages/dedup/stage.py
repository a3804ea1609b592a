"""`dscoder dedup INPUT OUTPUT`: exact + MinHash/LSH near-dedup of samples (paper §2.3), in phases.

Near-dedup needs a global view, so it runs as four phases, each an ordinary runtime `Stage` (resume,
done-markers, `--rank/--world-size`, `--workers` for free), each sharding its own way:

| phase        | unit                         | writes (under OUTPUT/_dscoder/phases/<phase>/ unless noted)  |
|--------------|------------------------------|--------------------------------------------------------------|
| `signatures` | one unit of the input        | key, sample_id, n_files, size, content hash, band hashes      |
| `buckets`    | one LSH band, plus `exact`   | candidate edges (member, bucket representative)               |
| `cluster`    | one (global, small)          | removal map: key -> cluster_id, kept_sample_id, reason        |
|              |                              | (with --verify: first the exact Jaccard of the candidate     |
|              |                              | pairs that would join two clusters, each sample read once)   |
| `remove`     | the same units as signatures | OUTPUT/part-N.parquet (kept) and OUTPUT/_rejected/ (removed)  |

A phase reads the complete output of the one before it and refuses to start before that is done.
The `remove` phase is OUTPUT's own stage, named `dedup`, whose manifest records every option.

Units of the input (`plan_units`: row groups of whole repositories, so one big shard keeps every
worker busy) are numbered; a sample's key is `unit index << 32 | row within the unit`. The remove
phase and --verify read the units the signatures phase recorded, so keys always mean the same rows.
"""

from __future__ import annotations

import functools
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash

from stages.core.errors import DscoderError, UsageError
from stages.core.manifest import OutputLayout
from stages.core.phases import completed_units, run_phases
from stages.core.runner import RunOptions
from stages.core.shards import (check_same_units, check_shard_units, iter_unit_batches, list_shards, plan_units,
                                read_unit, require_columns)
from stages.core.stage import Stage, Unit, UnitResult

from .clustering import bucket_edges, connected_components, make_key, preference_ranks, removal_map
from .config import PHASES, PREFER, DedupConfig
from .minhash import MinHasher, band_hashes, exact_jaccard, string_buffers

EDGE_SCHEMA = pa.schema([("a", pa.uint64()), ("b", pa.uint64())])
# The columns dedup reads of a `samples` shard (docs/formats.md); n_files only when present.
SAMPLES_COLUMNS = {"sample_id": "string", "text": "string"}
OPTIONAL_COLUMNS = {"n_files": "integer"}
# --verify: which candidate pairs get their exact Jaccard computed (docs/dedup.md#verify).
VERIFY_RULE = "every-pair-joining-two-clusters/v2"


@functools.lru_cache(maxsize=8)
def _hasher(num_perm: int, ngram: int, seed: int, backend: str) -> MinHasher:
    return MinHasher(num_perm=num_perm, ngram=ngram, seed=seed, backend=backend)


def hasher_of(config: DedupConfig) -> MinHasher:
    """The MinHash family of a config (one object per settings, in each process)."""
    return _hasher(config.num_perm, config.ngram, config.seed, config.backend)


def signature_options(config: DedupConfig) -> dict:
    return {"input": str(Path(config.input).resolve()), "tokens": "[A-Za-z_0-9]+",
            "minhash": hasher_of(config).family(), "bands": config.bands, "rows": config.rows,
            "content_hash": "xxh3_128", **({"prefer": list(config.prefer)} if config.prefer else {})}


def bucket_options(config: DedupConfig) -> dict:
    return {**signature_options(config), "threshold": config.threshold, "verify": config.verify}


def cluster_options(config: DedupConfig) -> dict:
    return {**bucket_options(config), "survivor": config.survivor_rule,
            **({"verify_rule": VERIFY_RULE} if config.verify else {})}


# The column types each --prefer key reads (docs/dedup.md#survivor).
_PREFER_TYPES = {"stars": (pa.types.is_integer, "an integer"), "license": (pa.types.is_string, "a string (SPDX id)"),
                 "recent": (lambda t: pa.types.is_timestamp(t) or pa.types.is_date(t), "a timestamp"),
                 "oldest": (lambda t: pa.types.is_timestamp(t) or pa.types.is_date(t), "a timestamp")}


def check_prefer_columns(config: DedupConfig) -> None:
    """Refuse (usage error) a --prefer key whose column some input shard lacks or has another type."""
    for path in list_shards(config.input) if config.prefer else ():
        try:
            schema = pq.read_schema(path)
        except Exception:  # noqa: BLE001 -- a corrupt shard is the signatures phase's to report
            continue
        for key in config.prefer:
            column = PREFER[key][0]
            check, wanted = _PREFER_TYPES[key]
            if column not in schema.names:
                raise UsageError(f"--prefer {key}: {path} has no `{column}` column (it has {', '.join(schema.names)}); "
                                 f"samples carry it when topo-sort copies it from the files (docs/dedup.md)")
            if not check(schema.field(column).type):
                raise UsageError(f"--prefer {key}: `{column}` in {path} is {schema.field(column).type}, "
                                 f"not {wanted}")


def _input_units(folder: Path) -> list[Unit]:
    """The units of the input, numbered (`index`: the high half of their samples' keys)."""
    return plan_units(folder, together="repo", with_index=True)


def _signature_units(config: DedupConfig) -> list[Unit]:
    """The input units as the signatures phase recorded them (its manifest): what keys refer to."""
    manifest = OutputLayout(config.phase_dir("signatures")).read_manifest()
    if manifest is None:
        raise UsageError(f"phase `signatures` is not complete in {config.output} (not started); "
                         "run `--phase signatures` (all ranks) first")
    return [Unit.from_json(u) for u in manifest["units"]]


def _phase_outputs(config: DedupConfig, phase: str) -> list[Unit]:
    """The finished outputs of `phase` as inputs of the next one; refuse if it is not complete.

    A phase whose units failed (a corrupt or foreign input shard) is named with each failure:
    "run `--phase signatures` first" cannot help when that is what just ran.
    """
    layout = OutputLayout(config.phase_dir(phase))
    failed = {u: m for u, m in layout.failed_markers().items() if not layout.done(u).exists()}
    if failed:
        shown = "; ".join(f"{u}: {(m.get('error') or {}).get('error', 'failed')}" for u, m in sorted(failed.items())[:3])
        more = f"; and {len(failed) - 3} more" if len(failed) > 3 else ""
        raise DscoderError(f"dedup phase `{phase}` failed on {len(failed)} unit(s) ({shown}{more}); a global dedup "
                           f"cannot skip them: fix or remove the input shards named, then re-run (see "
                           f"{layout.errors})")
    return completed_units(config.phase_dir(phase), phase, config.output)


def _content_hashes(texts: pa.ChunkedArray) -> pa.Array:
    data, offsets = string_buffers(texts)
    raw = data.tobytes() if data.size else b""
    base = int(offsets[0]) if offsets.size else 0
    digests = b"".join(xxhash.xxh3_128_digest(raw[int(offsets[i]) - base:int(offsets[i + 1]) - base])
                       for i in range(offsets.size - 1))
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), offsets.size - 1, [None, pa.py_buffer(digests)])


def _hash_words(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A fixed_size_binary(16) column as an (n, 2) uint64 array."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    buf = np.frombuffer(arr.buffers()[1], dtype=np.uint64)
    return buf[arr.offset * 2:(arr.offset + len(arr)) * 2].reshape(-1, 2)


# -- phase 1: signatures ---------------------------------------------------------------------------

class SignaturesPhase(Stage):
    name = "dedup.signatures"

    def __init__(self, config: DedupConfig):
        self.config = config

    def options(self) -> dict:
        return signature_options(self.config)

    def plan(self) -> list[Unit]:
        return _input_units(self.config.input)

    def check_units(self, units: list[Unit]) -> None:
        check_shard_units(self.config.input, units)

    def process(self, unit: Unit) -> UnitResult:
        item = unit.inputs[0]
        path, index = Path(item["path"]), item["index"]
        parts, counters, rows_in, bytes_in = [], {"samples_exact_only": 0}, 0, 0
        for table in iter_unit_batches(item):  # a batch at a time: memory per worker
            out, exact_only, n_bytes = self._signatures(table, path, index, rows_in)
            parts.append(out)
            counters["samples_exact_only"] += exact_only
            rows_in += table.num_rows
            bytes_in += n_bytes
        if not parts:
            out, _, _ = self._signatures(read_unit(item), path, index, 0)
            parts.append(out)
        return UnitResult(kept=pa.concat_tables(parts), rows_in=rows_in, bytes_in=bytes_in, counters=counters)

    def _signatures(self, table: pa.Table, path: Path, index: int, first_row: int) -> tuple[pa.Table, int, int]:
        """The signature rows of one batch whose first row is `first_row` of its unit."""
        require_columns(table, SAMPLES_COLUMNS, path, OPTIONAL_COLUMNS)
        n = table.num_rows
        cfg = self.config
        sig, n_shingles = hasher_of(cfg).signatures(table["text"])
        bands = band_hashes(sig, cfg.bands, cfg.rows)
        has = n_shingles > 0
        cols = {
            "key": pa.array(make_key(index, first_row + np.arange(n)), pa.uint64()),
            "sample_id": table["sample_id"],
            "n_files": table["n_files"] if "n_files" in table.column_names else pa.array(np.ones(n, np.int64)),
            "size": pc.binary_length(table["text"]).cast(pa.int64()),
            "content_hash": _content_hashes(table["text"]),
            "n_shingles": pa.array(n_shingles.astype(np.int64)),
            **preference_ranks(table, cfg.prefer),
        }
        for b in range(cfg.bands):
            cols[f"band_{b:03d}"] = pa.array(bands[:, b], pa.uint64(), mask=~has)
        bytes_in = int(pc.sum(pc.binary_length(table["text"])).as_py() or 0)
        return pa.table(cols), int((~has).sum()), bytes_in


# -- phase 2: buckets ------------------------------------------------------------------------------

class BucketsPhase(Stage):
    name = "dedup.buckets"

    def __init__(self, config: DedupConfig):
        self.config = config

    def options(self) -> dict:
        return bucket_options(self.config)

    def _signature_shards(self) -> list[dict]:
        return [u.inputs[0] for u in _phase_outputs(self.config, "signatures")]

    def plan(self) -> list[Unit]:
        inputs = self._signature_shards()
        return ([Unit(f"part-band-{b:03d}", inputs) for b in range(self.config.bands)]
                + [Unit("part-exact", inputs)])

    def check_units(self, units: list[Unit]) -> None:
        check_same_units(self.plan(), units, "signatures")

    def process(self, unit: Unit) -> UnitResult:
        exact = unit.name == "part-exact"
        column = "content_hash" if exact else f"band_{int(unit.name.rsplit('-', 1)[1]):03d}"
        parts = [pq.read_table(i["path"], columns=["key", column]) for i in unit.inputs]
        table = pa.concat_tables(parts)
        if not exact:
            table = table.filter(pc.is_valid(table[column]))  # samples without shingles: exact only
        keys = table["key"].to_numpy()
        hashes = _hash_words(table[column]) if exact else table[column].to_numpy()
        a, b = bucket_edges(hashes, keys)
        counters = {"candidate_edges": int(a.size)}
        edges = pa.table({"a": pa.array(a, pa.uint64()), "b": pa.array(b, pa.uint64())}, schema=EDGE_SCHEMA)
        return UnitResult(kept=edges, rows_in=edges.num_rows, bytes_in=unit.size, counters=counters)


# -- phase 3: cluster ------------------------------------------------------------------------------

class ClusterPhase(Stage):
    name = "dedup.cluster"

    def __init__(self, config: DedupConfig):
        self.config = config

    def options(self) -> dict:
        return cluster_options(self.config)

    def plan(self) -> list[Unit]:
        inputs = [u.inputs[0] for u in _phase_outputs(self.config, "buckets")]
        return [Unit("part-00000", inputs)]

    def check_units(self, units: list[Unit]) -> None:
        check_same_units(self.plan(), units, "bucket outputs")

    def process(self, unit: Unit) -> UnitResult:
        edges = [pq.read_table(i["path"]) for i in unit.inputs]
        verify_counters: dict[str, int] = {}
        if self.config.verify:
            exact = [e for i, e in zip(unit.inputs, edges) if Path(i["path"]).stem == "part-exact"]
            bands = [e for i, e in zip(unit.inputs, edges) if Path(i["path"]).stem != "part-exact"]
            a, b, verify_counters = verified_edges(self.config, exact, bands)
        else:
            a = np.concatenate([e["a"].to_numpy() for e in edges]) if edges else np.zeros(0, np.uint64)
            b = np.concatenate([e["b"].to_numpy() for e in edges]) if edges else np.zeros(0, np.uint64)
        del edges
        nodes, label = connected_components(a, b)
        n_edges = int(a.size)
        del a, b
        # Metadata of clustered samples only, read signature shard by signature shard.
        columns = ["key", "sample_id", "n_files", "size", "content_hash"] + [f"prefer_{k}" for k in self.config.prefer]
        members = []
        for sig in _phase_outputs(self.config, "signatures"):
            t = pq.read_table(sig.inputs[0]["path"], columns=columns)
            keep = np.isin(t["key"].to_numpy(), nodes, assume_unique=True)
            if keep.any():
                members.append(t.filter(pa.array(keep)))
        if members:
            meta = pa.concat_tables(members).sort_by("key")
            assert meta.num_rows == nodes.size, "signatures and bucket edges disagree"
            removed = removal_map(meta, label, self.config.prefer)
        else:
            removed = removal_map(pa.table({c: pa.array([], t) for c, t in [
                ("key", pa.uint64()), ("sample_id", pa.string()), ("n_files", pa.int64()),
                ("size", pa.int64()), ("content_hash", pa.binary(16))]
                + [(f"prefer_{k}", pa.int64()) for k in self.config.prefer]}), np.zeros(0, np.uint64),
                self.config.prefer)
        reasons = removed["reason"].to_pylist()
        counters = {"edges": n_edges, "clusters": int(np.unique(label).size), "samples_in_clusters": int(nodes.size),
                    "exact_duplicate": reasons.count("exact_duplicate"),
                    "near_duplicate": reasons.count("near_duplicate"), **verify_counters}
        return UnitResult(kept=removed, rows_in=removed.num_rows, bytes_in=unit.size, counters=counters)


def verified_edges(config: DedupConfig, exact: list[pa.Table], bands: list[pa.Table]
                   ) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """--verify: the edges that decide the clusters, each checked by the exact Jaccard of its shingles.

    Each band's star edges (member, bucket's smallest key) give its buckets back. Within a bucket,
    every pair of samples that is not yet in one cluster gets its Jaccard computed and joins when it
    reaches the threshold; a pair already joined (through this or an earlier bucket, or as exact
    duplicates, which join unchecked) needs no check. So a false-positive member -- the bucket's
    smallest key, say -- can no longer hide a true pair of the same bucket, and the clusters are the
    connected components of all verified pairs. Samples of identical shingle sets (Jaccard 1) join
    without a computation. Each candidate sample is read and shingled once, not once per band.
    """
    thr = config.threshold
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while x != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    out_a: list[int] = []
    out_b: list[int] = []

    def union(x: int, y: int) -> None:
        rx, ry = find(x), find(y)
        if rx != ry:
            parent[max(rx, ry)] = min(rx, ry)
            out_a.append(x)
            out_b.append(y)

    for e in exact:  # identical texts: Jaccard 1
        for x, y in zip(e["a"].to_numpy().tolist(), e["b"].to_numpy().tolist()):
            union(x, y)
    band_pairs = [(e["a"].to_numpy(), e["b"].to_numpy()) for e in bands]
    needed = (np.unique(np.concatenate([x for a, b in band_pairs for x in (a, b)])) if band_pairs
              else np.zeros(0, np.uint64))
    sets, digests = _shingle_sets(config, needed)
    pairs = below = identical = 0
    for a, b in band_pairs:
        order = np.lexsort((a, b))  # by bucket (its representative b), members in key order
        a, b = a[order].tolist(), b[order].tolist()
        i = 0
        while i < len(a):
            j = i
            while j < len(a) and b[j] == b[i]:
                j += 1
            members = [b[i], *a[i:j]]
            i = j
            distinct: list[int] = []
            by_digest: dict[bytes, int] = {}
            for k in members:
                d = digests[k]
                if d in by_digest:
                    identical += find(k) != find(by_digest[d])
                    union(k, by_digest[d])
                else:
                    by_digest[d] = k
                    distinct.append(k)
            for q in range(1, len(distinct)):
                for p in range(q):
                    x, y = distinct[p], distinct[q]
                    if find(x) == find(y):
                        continue
                    pairs += 1
                    if exact_jaccard(sets[x], sets[y], assume_unique=True) >= thr:
                        union(x, y)
                    else:
                        below += 1
    counters = {"verify_samples": int(needed.size), "verify_pairs": pairs, "verify_pairs_below_threshold": below,
                "verify_identical_shingles": identical}
    return np.array(out_a, np.uint64), np.array(out_b, np.uint64), counters


def _shingle_sets(config: DedupConfig, keys: np.ndarray) -> tuple[dict[int, np.ndarray], dict[int, bytes]]:
    """Each key's sorted set of shingle hashes and a digest of it, input shard by input shard."""
    shards = _signature_units(config)
    sets: dict[int, np.ndarray] = {}
    digests: dict[int, bytes] = {}
    shard_of = (keys >> np.uint64(32)).astype(np.int64)
    for s in np.unique(shard_of):
        mine = keys[shard_of == s]
        rows = (mine & np.uint64(0xFFFFFFFF)).astype(np.int64)
        texts = read_unit(shards[s].inputs[0], columns=["text"])["text"].take(pa.array(rows))
        flat, counts = hasher_of(config).shingles(texts)
        for key, sh in zip(mine.tolist(), np.split(flat, np.cumsum(counts)[:-1])):
            unique = np.unique(sh)
            sets[key] = unique
            digests[key] = xxhash.xxh3_128_digest(unique.tobytes())
    return sets, digests


# -- phase 4: remove (OUTPUT's own stage) ------------------------------------------------------------

class RemovePhase(Stage):
    name = "dedup"

    def __init__(self, config: DedupConfig):
        self.config = config

    def options(self) -> dict:
        return cluster_options(self.config)

    def plan(self) -> list[Unit]:
        _phase_outputs(self.config, "cluster")
        return _signature_units(self.config)  # the units the keys refer to

    def check_units(self, units: list[Unit]) -> None:
        check_shard_units(self.config.input, units)
        check_same_units(_signature_units(self.config), units, "units of the signatures phase")

    def process(self, unit: Unit) -> UnitResult:
        item = unit.inputs[0]
        path, index = Path(item["path"]), item["index"]
        removal = _phase_outputs(self.config, "cluster")[0].inputs[0]["path"]
        table = read_unit(item)  # Arrow only: a unit is bounded
        require_columns(table, SAMPLES_COLUMNS, path, OPTIONAL_COLUMNS)
        gone = pq.read_table(removal, columns=["row", "cluster_id", "kept_sample_id", "reason"],
                             filters=[("shard", "=", index)])
        rows = gone["row"].to_numpy()
        drop = np.zeros(table.num_rows, dtype=bool)
        drop[rows] = True
        rejected = table.take(pa.array(rows))
        for name in ("reason", "cluster_id", "kept_sample_id"):
            rejected = rejected.append_column(name, gone[name])
        reasons = gone["reason"].to_pylist()
        counters = {f"rejected:{r}": reasons.count(r) for r in ("exact_duplicate", "near_duplicate") if r in reasons}
        bytes_in = int(pc.sum(pc.binary_length(table["text"])).as_py() or 0)
        return UnitResult(kept=table.filter(pa.array(~drop)), rejected=rejected, rows_in=table.num_rows,
                          bytes_in=bytes_in, counters=counters)


PHASE_STAGES = {"signatures": SignaturesPhase, "buckets": BucketsPhase, "cluster": ClusterPhase,
                "remove": RemovePhase}


def run(config: DedupConfig, run_options: RunOptions, phase: str = "all") -> dict:
    """Run one phase (this rank's share) or, with `all`, every phase in order on this machine.

    Returns the last phase's summary, with `phases` = each phase's seconds in this run.
    """
    check_prefer_columns(config)
    return run_phases(config.output, {name: partial(PHASE_STAGES[name], config) for name in PHASES}, phase,
                      run_options)
