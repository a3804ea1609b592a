"""`dscoder filter INPUT OUTPUT --rules starcoder`: drop rows by named, versioned rules.

Works on `files` shards (text column `content`) and `samples` shards (`text`). A dropped row goes
to `_rejected/` with the name of the first rule it failed; the per-rule counts add up to the
rejected rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dscoder_cli.runtime.errors import UsageError
from dscoder_cli.runtime.shards import list_shards, read_shard
from dscoder_cli.runtime.stage import Stage, Unit, UnitResult

from .rules import RULE_SETS, StarCoderConfig, apply_rules

TEXT_COLUMNS = ("content", "text")  # files schema, samples schema


@dataclass
class FilterConfig:
    input: Path
    rule_sets: tuple[str, ...] = ("starcoder",)
    starcoder: StarCoderConfig = field(default_factory=StarCoderConfig)
    text_column: str | None = None  # None: `content` if present, else `text`


def build_rules(config: FilterConfig) -> list:
    rules = []
    for name in config.rule_sets:
        if name not in RULE_SETS:
            raise UsageError(f"unknown rule set {name!r}; known: {', '.join(sorted(RULE_SETS))}")
        rules.extend(RULE_SETS[name](getattr(config, name)))
    return rules


def _input_units(folder: Path) -> list[Unit]:
    return [Unit(p.stem, [{"path": str(p.resolve()), "size": p.stat().st_size}])
            for p in list_shards(folder)]


class FilterStage(Stage):
    name = "filter"

    def __init__(self, config: FilterConfig):
        self.config = config
        self.rules = build_rules(config)

    def options(self) -> dict:
        return {
            "input": str(Path(self.config.input).resolve()),
            "text_column": self.config.text_column,
            "rule_sets": list(self.config.rule_sets),
            "rules": {r.key: r.params for r in self.rules},  # dicts keep insertion (= rule) order
        }

    def plan(self) -> list[Unit]:
        return _input_units(self.config.input)

    def check_units(self, units: list[Unit]) -> None:
        now = {u.name: u.inputs for u in _input_units(self.config.input)}
        then = {u.name: u.inputs for u in units}
        if now != then:
            changed = sorted(set(now) ^ set(then) | {k for k in now if k in then and now[k] != then[k]})
            raise UsageError(f"the input shards changed since this output was started "
                             f"({', '.join(changed[:5])}{' …' if len(changed) > 5 else ''}); "
                             "use --overwrite to start over")

    def process(self, unit: Unit) -> UnitResult:
        table = read_shard(Path(unit.inputs[0]["path"]))
        column = self.config.text_column or next((c for c in TEXT_COLUMNS if c in table.column_names), None)
        if column is None or column not in table.column_names:
            raise ValueError(f"no text column ({column or ' or '.join(TEXT_COLUMNS)}) in "
                             f"{unit.inputs[0]['path']}; columns: {table.column_names}")
        langs = table["lang"] if "lang" in table.column_names else None
        result = apply_rules(table[column], langs, self.rules)
        keep = pa.array(np.asarray(result.keep, dtype=bool))
        reasons = pa.array(result.reason, type=pa.string()).filter(pc.invert(keep))
        rejected = table.filter(pc.invert(keep)).append_column("reason", reasons)
        counters = {f"rejected:{name}": n for name, n in result.counts.items() if n}
        bytes_in = int(pc.sum(pc.binary_length(table[column])).as_py() or 0)
        return UnitResult(kept=table.filter(keep), rejected=rejected, rows_in=table.num_rows,
                          bytes_in=bytes_in, counters=counters)
