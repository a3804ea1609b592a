"""`dscoder filter INPUT OUTPUT --rules starcoder|quality|decontam`: drop rows by named, versioned rules.

Works on `files` shards (text column `content`) and `samples` shards (`text`). A dropped row goes
to `_rejected/` with the name of the first rule it failed (`reason`) and that rule's detail, if
any (`reason_detail`: the benchmark task and n-gram a file matched); the per-rule counts add up to
the rejected rows. Rules that keep scores (the quality rules) add them as `quality_*` columns.

On `samples` shards the rules judge each file of a sample (``--granularity file``, the default:
sample_files.py removes the failing files and rebuilds the sample; rows are then counted in files)
or the whole sample (``--granularity sample``: the sample is kept or dropped as one row).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stages.core.errors import UsageError
from stages.core.shards import check_shard_units, iter_unit_batches, plan_units, read_unit, require_columns
from stages.core.stage import Stage, Unit, UnitResult

from .config import FilterConfig
from .framework import FilterResult, apply_rules
from .sample_files import explode, regroup
from .syntax import recorded_scores

TEXT_COLUMNS = ("content", "text")  # files schema, samples schema
# The other columns filter reads when a shard has them (rules look at paths and languages; file
# granularity rebuilds samples): each must have its schema's type (docs/formats.md).
OPTIONAL_COLUMNS = {"lang": "string", "path": "string", "repo": "string", "sample_id": "string",
                    "paths": "list<string>", "langs": "list<string>", "n_files": "integer", "size": "integer"}


def _starcoder(config):
    from .starcoder import starcoder_rules
    return starcoder_rules(config)


def _quality(config):
    from .quality import quality_rules  # tree-sitter, ast
    return quality_rules(config)


def _decontam(config):
    from .decontam import decontam_rules  # loads the benchmark data
    return decontam_rules(config)


# Rule-set name -> factory(its config section of FilterConfig) -> ordered rules. "quality" and
# "decontam" are the second pass of paper §2.4 (docs/filter.md). A new rule set: a module with its
# rules and a factory, a config dataclass in config.py, and one line here.
RULE_SETS = {"starcoder": _starcoder, "quality": _quality, "decontam": _decontam}


def _pii(config):
    from .pii import scanner_for  # detect-secrets
    return scanner_for(config)


# Transforms: named in --rules like a rule set, they rewrite the kept rows (after the rules) and drop
# nothing, so they add no rules. pii: secrets and personal data redacted (stages/filter/pii.py).
TRANSFORMS = {"pii": _pii}
RULE_SETS.update({name: lambda config: [] for name in TRANSFORMS})


def build_rules(config: FilterConfig) -> list:
    rules = []
    for name in config.rule_sets:
        if name not in RULE_SETS:
            raise UsageError(f"unknown rule set {name!r}; known: {', '.join(sorted(RULE_SETS))}")
        rules.extend(RULE_SETS[name](getattr(config, name)))
    return rules


class FilterStage(Stage):
    name = "filter"

    def __init__(self, config: FilterConfig):
        self.config = config
        self.rules = build_rules(config)
        self.transforms = {name: TRANSFORMS[name](getattr(config, name)) for name in config.rule_sets
                           if name in TRANSFORMS}

    def options(self) -> dict:
        return {
            "input": str(Path(self.config.input).resolve()),
            "text_column": self.config.text_column,
            "rule_sets": list(self.config.rule_sets),
            "granularity": self.config.granularity,
            "rules": {r.key: r.params for r in self.rules},  # dicts keep insertion (= rule) order
            **({"transforms": {name: t.params() for name, t in self.transforms.items()}} if self.transforms else {}),
        }

    def plan(self) -> list[Unit]:
        # Units never split a repository: the output stays repository-aligned (DESIGN §3).
        return plan_units(self.config.input, together="repo")

    def check_units(self, units: list[Unit]) -> None:
        check_shard_units(self.config.input, units)

    def process(self, unit: Unit) -> UnitResult:
        """The unit in batches of bounded size (rows are judged one by one, samples' files within
        their sample), so a worker holds one batch's Python strings at a time."""
        item = unit.inputs[0]
        path = Path(item["path"])
        parts = [self._process_table(batch, path) for batch in iter_unit_batches(item)]
        return _merge_results(parts or [self._process_table(read_unit(item), path)])

    def _process_table(self, table: pa.Table, path: Path) -> UnitResult:
        column = self.config.text_column or next((c for c in TEXT_COLUMNS if c in table.column_names), None)
        if column is None:
            raise UsageError(f"no text column ({' or '.join(TEXT_COLUMNS)}) in {path} "
                             f"(columns: {', '.join(table.column_names) or 'none'})")
        require_columns(table, {column: "string"}, path, OPTIONAL_COLUMNS)
        if self.config.granularity == "file" and "paths" in table.column_names:
            result = self._process_sample_files(table, column)
        else:
            result = self._process_rows(table, column)
        # -- transforms (pii): rewrite the kept rows, drop none ------------------------------------
        if "pii" in self.transforms:
            from .pii import redact_table
            result.kept, pii_counters = redact_table(result.kept, column, self.config.pii)
            result.counters.update(pii_counters)
        # -- end of transforms ---------------------------------------------------------------------
        return result

    def _recorded(self, table: pa.Table) -> list | None:
        """The syntax scores topo-sort recorded (parse once), when a rule reads them."""
        return recorded_scores(table) if any(rule.reads_recorded_syntax for rule in self.rules) else None

    def _process_rows(self, table: pa.Table, column: str) -> UnitResult:
        """Each row judged whole: a `files` row, or a sample with ``--granularity sample``."""
        langs = table["lang"] if "lang" in table.column_names else None
        paths = next((table[c] for c in ("paths", "path") if c in table.column_names), None)
        result = apply_rules(table[column], langs, self.rules, paths=paths, syntax=self._recorded(table))
        for name, values in result.columns.items():  # scores kept as columns (NaN: not scored)
            values = pa.array(np.asarray(values, dtype=np.float64))
            if name in table.column_names:  # filtered twice: the new scores replace the old
                table = table.set_column(table.column_names.index(name), name, values)
            else:
                table = table.append_column(name, values)
        keep = pa.array(np.asarray(result.keep, dtype=bool))
        drop = pc.invert(keep)
        rejected = (table.filter(drop)
                    .append_column("reason", pa.array(result.reason, type=pa.string()).filter(drop))
                    .append_column("reason_detail", result.detail.filter(drop)))
        kept = table.filter(keep)
        counters = _rule_counters(result, pc.binary_length(table[column]))
        counters["kept_bytes"] = _text_bytes(kept[column])
        if "paths" in table.column_names:  # samples judged whole: a dropped sample takes all its files
            n_files = np.asarray(pc.fill_null(pc.list_value_length(table["paths"]), 0), dtype=np.int64)
            counters.update(samples_in=table.num_rows, samples_kept=kept.num_rows, samples_trimmed=0,
                            samples_rejected=rejected.num_rows, files_in=int(n_files.sum()),
                            files_removed=int(n_files[~result.keep].sum()))
            counters.update({f"samples_touched:{name}": n for name, n in result.counts.items() if n})
        return UnitResult(kept=kept, rejected=rejected, rows_in=table.num_rows,
                          bytes_in=_text_bytes(table[column]), counters=counters)

    def _process_sample_files(self, table: pa.Table, column: str) -> UnitResult:
        """``--granularity file`` on samples: judge each file, keep the rest of its sample (rows = files)."""
        files = explode(table, column, self._recorded(table))
        result = apply_rules(files.texts, files.langs, self.rules, paths=files.paths, groups=files.groups,
                             syntax=files.syntax)
        got = regroup(table, column, files, result.keep, result.reason, result.detail, result.columns)
        counters = _rule_counters(result, pc.binary_length(files.texts))
        counters.update(kept_bytes=got.kept_bytes, samples_in=table.num_rows, samples_kept=got.kept.num_rows,
                        samples_trimmed=got.samples_trimmed, samples_rejected=got.samples_rejected,
                        files_in=len(files), files_removed=got.rejected.num_rows)
        counters.update({f"samples_touched:{name}": n for name, n in got.touched.items()})
        return UnitResult(kept=got.kept, rejected=got.rejected, rows_in=len(files),
                          rows_accounted=int(result.keep.sum()), bytes_in=_text_bytes(table[column]),
                          counters=counters)


def _merge_results(parts: list[UnitResult]) -> UnitResult:
    """One unit's result from its batches' results, in order (counters and row counts add up)."""
    if len(parts) == 1:
        return parts[0]
    counters: dict[str, int] = {}
    for p in parts:
        for k, v in p.counters.items():
            counters[k] = counters.get(k, 0) + v
    rejected = [p.rejected for p in parts if p.rejected is not None and p.rejected.num_rows]
    accounted = [p.rows_accounted for p in parts]
    return UnitResult(
        kept=pa.concat_tables([p.kept for p in parts], promote_options="default"),
        rejected=pa.concat_tables(rejected, promote_options="default") if rejected else parts[0].rejected,
        rows_in=sum(p.rows_in for p in parts), bytes_in=sum(p.bytes_in for p in parts), counters=counters,
        errors=[e for p in parts for e in p.errors],
        rows_accounted=None if all(a is None for a in accounted) else sum(
            p.kept.num_rows if a is None else a for p, a in zip(parts, accounted)))


def _text_bytes(texts) -> int:
    return int(pc.sum(pc.binary_length(texts)).as_py() or 0) if len(texts) else 0


def _rule_counters(result: FilterResult, row_bytes) -> dict[str, int]:
    """Rows (and their text bytes) each rule rejected first: `rejected:<rule>`, `rejected_bytes:<rule>`."""
    counters = {f"rejected:{name}": n for name, n in result.counts.items() if n}
    reasons = np.asarray(pc.fill_null(pa.array(result.reason, type=pa.string()), "").to_numpy(zero_copy_only=False))
    sizes = np.asarray(pc.fill_null(row_bytes, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    for name, n in result.counts.items():
        if n:
            counters[f"rejected_bytes:{name}"] = int(sizes[reasons == name].sum())
    return counters
