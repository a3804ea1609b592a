"""`dscoder topo-sort INPUT OUTPUT`: `files` shards → repository-level `samples` shards (paper §2.2).

A unit of work is a run of row groups holding whole repositories (`plan_units`: a repository's rows
never go to two units, even where they are not contiguous in the shard); a worker holds the unit as
Arrow and one repository at a time as Python strings, so its memory is bounded by the largest
repository, not by the shard.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from stages.core.shards import BATCH_BYTES, check_shard_units, plan_units, read_unit, require_columns
from stages.core.stage import Stage, Unit, UnitResult
from stages.core.schemas import SAMPLES_SCHEMA

from .config import PAPER_SCOPE, TopoSortConfig  # noqa: F401  (PAPER_SCOPE: re-exported)
from .deps import RepoFile, find_dependencies
from .order import content_key, order_repository
from stages.core.sample_text import build_sample_text
from stages.filter.syntax import ParsedSource, syntax_key, syntax_record

@dataclass
class RepoSamples:
    rows: list[dict] = field(default_factory=list)
    counters: Counter = field(default_factory=Counter)


# The columns topo-sort reads of a `files` shard (docs/formats.md).
FILES_COLUMNS = {"repo": "string", "path": "string", "lang": "string", "content": "string"}

# Repository metadata copied from the files onto their samples when the input has it, for dedup's
# --prefer (docs/dedup.md): a sample's value is its files' (most stars, the most common licence,
# the earliest creation time where they differ).
REPO_METADATA = {"stars": ("integer", pa.int64()), "license": ("string", pa.string()),
                 "repo_created_at": ("timestamp", pa.timestamp("us", tz="UTC"))}


def sample_metadata(name: str, values: list):
    present = [v for v in values if v is not None]
    if not present:
        return None
    if name == "stars":
        return max(present)
    if name == "license":
        counts = Counter(present)
        return min(counts, key=lambda v: (-counts[v], v))
    return min(present)


def repo_samples(repo: str, files: list[RepoFile], scope: frozenset[str], seed: int,
                 max_parse_bytes: int | None = None, syntax_languages: frozenset[str] = frozenset()) -> RepoSamples:
    """Samples of one repository: dependency-ordered components of in-scope files, single files else.

    `files` must have distinct paths (the stage rejects duplicates first). The files parsed for
    imports whose language is in `syntax_languages` get their syntax score recorded (parse once)."""
    out = RepoSamples()
    by_path = {f.path: f for f in files}
    assert len(by_path) == len(files), "duplicate paths in one repository"
    in_scope = sorted(f.path for f in files if f.lang in scope)
    scores: dict[str, dict | None] = {}

    def record(file: RepoFile, grammar: str, tree) -> None:
        if file.lang not in syntax_languages:
            return
        # The file as its sample holds it (build_sample_text ends every file with a newline),
        # scored by the quality rule's own file_syntax, with this tree where it is of the same bytes.
        text = file.content if file.content.endswith("\n") else file.content + "\n"
        try:
            scores[file.path] = syntax_record(
                text, file.lang, ParsedSource(grammar, file.content.encode("utf-8", "surrogatepass"), tree))
        except Exception:  # noqa: BLE001 - no score: the quality filter parses the file itself
            out.counters["syntax_record_failures"] += 1

    graph = find_dependencies(files, languages=scope, repo=repo, max_parse_bytes=max_parse_bytes,
                              on_parse=record if syntax_languages else None)
    key = syntax_key() if syntax_languages else None
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
        recorded = [scores.get(p) if concatenated else None for p in paths]
        out.counters["syntax_recorded"] += sum(r is not None for r in recorded)
        out.rows.append({"sample_id": f"{repo}#{k}", "repo": repo, "lang": lang, "paths": paths,
                         "langs": [f.lang for f in members], "text": text, "n_files": len(paths),
                         "size": len(text.encode()), "syntax_scores": recorded, "syntax_key": key})
    out.counters.update({"samples": len(groups), "edges": order.edges, "components": len(order.components),
                         "cycles": order.cycles, "parse_failures": len(graph.parse_failures),
                         "parse_skipped_too_large": len(graph.parse_skipped),
                         "imports": graph.imports_total, "imports_resolved": graph.imports_resolved,
                         "repos": 1})
    return out


class TopoSortStage(Stage):
    name = "topo-sort"

    def __init__(self, config: TopoSortConfig):
        self.config = config
        self.scope = frozenset(config.scope)
        self.syntax_languages = frozenset(config.syntax_scores)

    def options(self) -> dict:
        return {"input": str(Path(self.config.input).resolve()), "scope": sorted(self.scope),
                "seed": self.config.seed, "max_parse_bytes": self.config.max_parse_bytes,
                # not syntax_key(): each row carries it and the filter checks it per row, so a run
                # resumed after an upgrade stays correct and is not refused
                "syntax_scores": sorted(self.syntax_languages)}

    def plan(self) -> list[Unit]:
        return plan_units(self.config.input, together="repo")

    def check_units(self, units: list[Unit]) -> None:
        check_shard_units(self.config.input, units)

    def process(self, unit: Unit) -> UnitResult:
        item = unit.inputs[0]
        path = Path(item["path"])
        table = read_unit(item)  # Arrow: whole repositories, bounded by the unit
        require_columns(table, FILES_COLUMNS, path, optional={k: v[0] for k, v in REPO_METADATA.items()})
        metadata = {c: table[c].to_pylist() for c in REPO_METADATA if c in table.column_names}
        schema = SAMPLES_SCHEMA
        for name in metadata:
            schema = schema.append(pa.field(name, REPO_METADATA[name][1]))
        counters: Counter = Counter()
        repos, paths = table["repo"].to_pylist(), table["path"].to_pylist()
        # A repository's files should be contiguous (docs/architecture.md); if they are not, they
        # still make one group, in the order repositories first appear, so sample ids stay unique.
        # A (repo, path) seen before is a rejected row: the first one is the file.
        groups: dict[str, list[int]] = {}
        seen: set[tuple[str, str]] = set()
        duplicates: list[int] = []
        for i, (repo, file_path) in enumerate(zip(repos, paths)):
            if (repo, file_path) in seen:
                duplicates.append(i)
                continue
            seen.add((repo, file_path))
            groups.setdefault(repo, []).append(i)
        del seen
        # One repository at a time as Python strings; its samples go back to Arrow in batches.
        files_table = table.select(["path", "lang", "content"])
        parts: list[pa.Table] = []
        rows: list[dict] = []
        pending = 0
        for repo, members in groups.items():
            sub = files_table.take(pa.array(members, pa.int64()))
            files = [RepoFile(p, lang, c or "") for p, lang, c in
                     zip(sub["path"].to_pylist(), sub["lang"].to_pylist(), sub["content"].to_pylist())]
            del sub
            got = repo_samples(repo, files, self.scope, self.config.seed, self.config.max_parse_bytes,
                               self.syntax_languages)
            del files
            if metadata:
                index = {paths[i]: i for i in members}
                for row in got.rows:
                    for name, column in metadata.items():
                        row[name] = sample_metadata(name, [column[index[p]] for p in row["paths"]])
            rows.extend(got.rows)
            pending += sum(r["size"] for r in got.rows)
            counters.update(got.counters)
            if pending >= BATCH_BYTES:
                parts.append(pa.Table.from_pylist(rows, schema=schema))
                rows, pending = [], 0
        if rows or not parts:
            parts.append(pa.Table.from_pylist(rows, schema=schema))
        del rows
        span: dict[str, list[int]] = {}  # repo -> [first row, last row, rows]
        for i, repo in enumerate(repos):
            first_last = span.setdefault(repo, [i, i, 0])
            first_last[1], first_last[2] = i, first_last[2] + 1
        counters["repos_not_contiguous"] = sum(1 for a, b, n in span.values() if b - a + 1 != n)
        rejected = None
        if duplicates:
            counters["rejected:duplicate_path"] = len(duplicates)
            rejected = table.take(pa.array(duplicates, pa.int64()))
            if "reason" in rejected.column_names:  # an input that is itself rejected rows
                rejected = rejected.drop_columns(["reason"])
            rejected = rejected.append_column("reason", pa.array(["duplicate_path"] * len(duplicates), pa.string()))
        kept = pa.concat_tables(parts)
        n_files = table.num_rows - len(duplicates)
        bytes_in = int(pc.sum(pc.binary_length(table["content"])).as_py() or 0)
        return UnitResult(kept=kept, rejected=rejected, rows_in=table.num_rows, rows_accounted=n_files,
                          bytes_in=bytes_in, counters=dict(counters))
