"""`dscoder crawl SOURCE OUTPUT`: repositories → repository-aligned `files` shards."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pyarrow as pa

from stages.core.errors import UsageError
from stages.core.shards import shard_name
from stages.core.stage import Stage, Unit, UnitResult

from stages.core.schemas import FILES_SCHEMA

from .git import GitError
from .config import CrawlStageConfig
from .reader import read_repo
from .sources import SKIP_ERRORS, RepoSpec, is_dataset_source, resolve_source, source_changes

SKIPPED_SCHEMA = pa.schema([("repo", pa.string()), ("path", pa.string()), ("lang", pa.string()),
                            ("size", pa.int64()), ("reason", pa.string())])


def group_repos(repos: list[RepoSpec], shard_size: int) -> list[list[RepoSpec]]:
    """Consecutive repositories, a group closed before it would exceed shard_size (a repository
    larger than that is a group alone): a repo never spans two shards, and shards stay near their
    target, which balances the workers (each group is one unit of work)."""
    groups, current, size = [], [], 0
    for repo in repos:
        if current and repo.size and size + repo.size > shard_size:  # an empty repository joins
            groups.append(current)
            current, size = [], 0
        current.append(repo)
        size += repo.size
    if current:
        groups.append(current)
    return groups


def _skipped_entry_row(entry: RepoSpec) -> dict:
    """The rejected row of a SOURCE entry not crawled; a top-level file keeps its language and size."""
    lang = size = None
    if entry.reason == "top_level_file":
        from stages.core.languages import detect_language
        lang = detect_language(entry.name)
        try:
            size = Path(entry.location).lstat().st_size
        except OSError:
            pass
    return {"repo": entry.name, "path": None, "lang": lang, "size": size, "reason": entry.reason}


class CrawlStage(Stage):
    name = "crawl"

    def __init__(self, config: CrawlStageConfig):
        self.config = config
        self.plan_errors: list[dict] = []
        self._planned: list[RepoSpec] | None = None  # what plan() found, in this process
        self._is_dataset: bool | None = None

    @property
    def is_dataset(self) -> bool:
        """SOURCE is a dataset (Parquet/JSONL/Arrow, HF `save_to_disk`), not repositories."""
        if self._is_dataset is None:
            d = self.config.dataset
            self._is_dataset = is_dataset_source(self.config.source, d.format, d.columns)
        return self._is_dataset

    def options(self) -> dict:
        c = self.config
        source = c.source
        if not source.startswith("github:") and Path(source).exists():
            source = str(Path(source).resolve())
        options = {
            "source": source, "shard_size": c.shard_size, "max_file_size": c.crawl.max_file_size,
            "languages": sorted(c.crawl.languages) if c.crawl.languages else None,
            "github": dict(sorted(asdict(c.github).items())) if source.startswith("github:") else None,
        }
        if self.is_dataset:  # recorded only for datasets: outputs of repository crawls keep their options
            d = c.dataset
            options["dataset"] = {"format": d.format, "columns": d.columns,
                                  "blobs": str(Path(d.blobs).resolve()) if d.blobs else None}
        return options

    def plan(self) -> list[Unit]:
        if self.is_dataset:
            from .dataset.plan import plan_dataset
            d = self.config.dataset
            units, self.plan_errors = plan_dataset(Path(self.config.source), d.format, d.columns, d.blobs,
                                                   self.config.shard_size, log=self.log)
            return units
        repos, self.plan_errors = resolve_source(self.config.source,
                                                 max_file_size=self.config.crawl.max_file_size,
                                                 github=asdict(self.config.github), log=self.log)
        self._planned = repos
        if not any(r.kind != "skipped" for r in repos):  # nothing to crawl: the runner says why
            self.plan_errors += [{"item": r.location, "error": f"not crawled: {r.reason}"} for r in repos]
            return []
        groups = group_repos(repos, self.config.shard_size)
        return [Unit(shard_name(i), [r.to_json() for r in g]) for i, g in enumerate(groups)]

    def check_units(self, units: list[Unit]) -> None:
        """Refuse to resume when SOURCE changed since the manifest was written (docs/crawl.md#re-runs):
        a repository added to or removed from SOURCE, a git repository's HEAD moved, a plain folder's
        files added, removed or edited. `github:` sources are searched once and not re-checked."""
        if self.config.source.startswith("github:"):
            return
        if self.is_dataset:
            from .dataset.plan import dataset_changes
            changes = dataset_changes(units, Path(self.config.source))
            if changes:
                shown = "; ".join(changes[:5]) + (f"; and {len(changes) - 5} more" if len(changes) > 5 else "")
                raise UsageError(f"SOURCE {self.config.source} changed since this output was started: {shown}; "
                                 "use --overwrite to crawl it again (or restore SOURCE to resume)")
            return
        then = [RepoSpec(**spec) for u in units for spec in u.inputs]
        now = self._planned
        if now is None:  # a re-run: resolve SOURCE again (no tree listings, only fingerprints)
            now, _ = resolve_source(self.config.source, max_file_size=self.config.crawl.max_file_size,
                                    sizes=False)
        changes = source_changes(then, now)
        if changes:
            shown = "; ".join(changes[:5]) + (f"; and {len(changes) - 5} more" if len(changes) > 5 else "")
            raise UsageError(f"SOURCE {self.config.source} changed since this output was started: {shown}; "
                             "the output would no longer match it: use --overwrite to crawl it again "
                             "(or restore SOURCE to resume)")

    def process(self, unit: Unit) -> UnitResult:
        if unit.inputs and unit.inputs[0].get("kind") == "dataset":
            from .dataset.rows import process_dataset_unit
            blobs = self.config.dataset.blobs
            return process_dataset_unit(unit, self.config.crawl, str(Path(blobs).resolve()) if blobs else None)
        parts: list[pa.Table] = []
        skipped, errors = [], []
        n_rows = bytes_in = 0
        counters: dict[str, int] = {"repos": 0, "repos_failed": 0}
        for spec in unit.inputs:
            repo = RepoSpec(**spec)
            if repo.kind == "skipped":  # a SOURCE entry that is no repository to crawl
                skipped.append(_skipped_entry_row(repo))
                if repo.reason in SKIP_ERRORS:
                    errors.append({"item": repo.location, "error": SKIP_ERRORS[repo.reason]})
                continue
            counters["repos"] += 1
            try:
                got = read_repo(repo, self.config.crawl)
            except (GitError, OSError, ValueError) as exc:
                # An unreadable repository or a failed clone is reported; the crawl goes on.
                counters["repos_failed"] += 1
                errors.append({"item": repo.name, "error": str(exc)})
                continue
            for r in got.rows:  # files per language (a .h as crawl decided it: C, C++)
                key = f"files:{r['lang']}"
                counters[key] = counters.get(key, 0) + 1
            n_rows += len(got.rows)
            bytes_in += sum(r["size"] for r in got.rows)
            # One repository's files at a time as Python objects; the shard accumulates as Arrow.
            parts.append(pa.Table.from_pylist(got.rows, schema=FILES_SCHEMA))
            skipped.extend(got.skipped)
            errors.extend(got.errors)
            del got
        for s in skipped:
            key = f"skipped:{s['reason']}"
            counters[key] = counters.get(key, 0) + 1
        kept = pa.concat_tables(parts) if parts else FILES_SCHEMA.empty_table()
        rejected = pa.Table.from_pylist(skipped, schema=SKIPPED_SCHEMA)
        return UnitResult(kept=kept, rejected=rejected, rows_in=n_rows + len(skipped),
                          bytes_in=bytes_in, counters=counters, errors=errors)
