"""`dscoder topo-sort INPUT OUTPUT`: `files` shards → repository-level `samples` shards (paper §2.2)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from stages.core.shards import check_shard_units, read_shard, shard_units
from stages.core.stage import Stage, Unit, UnitResult
from stages.core.schemas import SAMPLES_SCHEMA

from .config import PAPER_SCOPE, TopoSortConfig  # noqa: F401  (PAPER_SCOPE: re-exported)
from .deps import RepoFile, find_dependencies
from .order import content_key, order_repository
from stages.core.sample_text import build_sample_text

@dataclass
class RepoSamples:
    rows: list[dict] = field(default_factory=list)
    counters: Counter = field(default_factory=Counter)


def repo_samples(repo: str, files: list[RepoFile], scope: frozenset[str], seed: int) -> RepoSamples:
    """Samples of one repository: dependency-ordered components of in-scope files, single files else."""
    out = RepoSamples()
    by_path = {f.path: f for f in files}
    in_scope = sorted(f.path for f in files if f.lang in scope)
    graph = find_dependencies(files, languages=scope, repo=repo)
    # Ties keyed by path and content, never by the repository's name: byte-identical repositories
    # give identical samples, so exact dedup removes the copies (docs/topo-sort.md).
    tie_keys = {path: content_key(by_path[path].content) for path in in_scope}
    order = order_repository(in_scope, graph.edges, seed=seed, tie_keys=tie_keys)
    groups = [(c, True) for c in order.components]
    groups += [([f.path], False) for f in files if f.lang not in scope]
    groups.sort(key=lambda g: min(g[0]))  # sample k of a repo: by its first path, stable across runs
    for k, (paths, concatenated) in enumerate(groups):
        members = [by_path[p] for p in paths]
        if concatenated:
            text = build_sample_text([(f.path, f.lang, f.content) for f in members])
        else:
            text = members[0].content
        weight = Counter()
        for f in members:
            weight[f.lang] += len(f.content.encode())
            out.counters[f"files:{f.lang or 'unknown'}"] += 1  # each file in its own language
        lang = min(weight, key=lambda lang_: (-weight[lang_], lang_ or ""))
        out.rows.append({"sample_id": f"{repo}#{k}", "repo": repo, "lang": lang, "paths": paths,
                         "langs": [f.lang for f in members], "text": text, "n_files": len(paths),
                         "size": len(text.encode())})
    out.counters.update({"samples": len(groups), "edges": order.edges, "components": len(order.components),
                         "cycles": order.cycles, "parse_failures": len(graph.parse_failures),
                         "imports": graph.imports_total, "imports_resolved": graph.imports_resolved,
                         "repos": 1})
    return out


class TopoSortStage(Stage):
    name = "topo-sort"

    def __init__(self, config: TopoSortConfig):
        self.config = config
        self.scope = frozenset(config.scope)

    def options(self) -> dict:
        return {"input": str(Path(self.config.input).resolve()), "scope": sorted(self.scope),
                "seed": self.config.seed}

    def plan(self) -> list[Unit]:
        return shard_units(self.config.input)

    def check_units(self, units: list[Unit]) -> None:
        check_shard_units(self.config.input, units)

    def process(self, unit: Unit) -> UnitResult:
        table = read_shard(Path(unit.inputs[0]["path"]), columns=["repo", "path", "lang", "content"])
        rows: list[dict] = []
        counters: Counter = Counter()
        repos = table["repo"].to_pylist()
        paths, langs, contents = (table[c].to_pylist() for c in ("path", "lang", "content"))
        start = 0
        # Shards are repository-aligned and a repository's files are contiguous (docs/architecture.md).
        while start < len(repos):
            end = start
            while end < len(repos) and repos[end] == repos[start]:
                end += 1
            files = [RepoFile(paths[i], langs[i], contents[i] or "") for i in range(start, end)]
            got = repo_samples(repos[start], files, self.scope, self.config.seed)
            rows.extend(got.rows)
            counters.update(got.counters)
            start = end
        kept = pa.Table.from_pylist(rows, schema=SAMPLES_SCHEMA)
        return UnitResult(kept=kept, rows_in=table.num_rows, rows_accounted=table.num_rows,
                          bytes_in=sum(len(c.encode()) for c in contents if c), counters=dict(counters))
