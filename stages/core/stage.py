"""What a stage is, to the runtime: configuration plus three methods (the datatrove shape).

A stage's constructor only stores its configuration. `plan()` lists the units of work (one output
shard each); `process(unit)` does one unit and returns its rows. Everything else -- atomic writes,
done-markers, resume, workers, ranks, progress, stats, errors -- is the runner's job, so every
stage keeps the stage contract (docs/architecture.md) the same way.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa


@dataclass
class Unit:
    """One unit of work; its `name` is the output shard's stem (`part-00000`)."""

    name: str
    inputs: list[dict[str, Any]]  # JSON description: input shard paths and sizes, or repositories

    @property
    def size(self) -> int:
        return sum(int(i.get("size") or 0) for i in self.inputs)

    def to_json(self) -> dict:
        return {"name": self.name, "inputs": self.inputs}

    @classmethod
    def from_json(cls, obj: dict) -> "Unit":
        return cls(name=obj["name"], inputs=obj["inputs"])


@dataclass
class UnitResult:
    """What `process()` returns. `rows_in` must equal kept + rejected rows: nothing is lost silently.

    A stage whose output is not a Parquet table (tokenize: `.bin/.idx`) writes its unit's files
    itself, each atomically (`runtime.atomic.atomic_path`), and returns `kept=None` with `rows_out`
    and `bytes_out`; the runner still writes the rejected rows and the done-marker (last).
    """

    kept: pa.Table | None
    rejected: pa.Table | None = None  # same rows as dropped, plus a `reason` column
    rows_in: int = 0
    bytes_in: int = 0
    counters: dict[str, int] = field(default_factory=dict)  # e.g. rows rejected per rule
    errors: list[dict[str, Any]] = field(default_factory=list)  # {"item": ..., "error": ...}
    rows_out: int | None = None  # only with kept=None: rows the stage wrote itself
    bytes_out: int = 0  # only with kept=None: bytes of the files the stage wrote itself
    # Input rows the kept rows stand for, when a stage changes granularity (topo-sort: files in,
    # samples out). None: one kept row per input row.
    rows_accounted: int | None = None


class Stage(ABC):
    name: ClassVar[str]
    # The worker processes of this run (`--workers`), set by the runner before prepare(): what a
    # stage's own parallel set-up may use (tokenize trains its tokenizer with this many threads).
    workers: int = 1

    @abstractmethod
    def options(self) -> dict[str, Any]:
        """Every setting that changes the output; recorded in the manifest and compared on resume."""

    @abstractmethod
    def plan(self) -> list[Unit]:
        """The units of work, in output order. Called once per output folder (then read back)."""

    def inputs(self) -> list[Path]:
        """The files and folders this stage reads: never deleted by `--overwrite`, never the output,
        and (when one is a dscoder output) complete unless `--allow-partial`. Default: the `input`
        or `source` recorded in `options()`, and every other option value that is the absolute path
        of something that exists (tokenize's `--tokenizer`, filter's benchmark files); the runner
        adds the local paths its units name (crawl's repositories)."""
        options = self.options()
        found = []
        for key in ("input", "source"):
            value = options.get(key)
            if isinstance(value, (str, Path)) and str(value) and os.path.lexists(value):
                found.append(Path(value))

        def walk(value) -> None:
            if isinstance(value, dict):
                for v in value.values():
                    walk(v)
            elif isinstance(value, (list, tuple)):
                for v in value:
                    walk(v)
            elif isinstance(value, (str, Path)) and os.path.isabs(value) and os.path.lexists(value):
                if Path(value) not in found:
                    found.append(Path(value))

        walk(options)
        return found

    def log(self, message: str) -> None:
        """A progress line for the user; the runner points it at its reporter before plan()."""

    def prepare(self, output: Path) -> None:
        """Called once per run, after the output folder is opened and before any unit is processed
        (in the runner's process: forked workers inherit what it sets up). A stage that writes its
        own unit files or shared artifacts (tokenize: `OUTPUT/tokenizer/`) learns the folder here."""

    def warm_up(self) -> None:
        """Load, in the runner just before it forks workers, what units load on first use: the
        workers inherit it instead of each loading it again, in every phase (each phase forks its
        own). Only fork-safe state: modules and Python objects, no threads or open files.

        Default: pyarrow's first conversion of Python values, which imports pandas (0.2-0.4 s per
        process: dedup's --workers 2 spent ~1.5 s of 7.5 on it, issue #18)."""
        pa.array([0])

    def check_units(self, units: list[Unit]) -> None:
        """Raise UsageError when the input no longer matches the units recorded in the manifest."""

    @abstractmethod
    def process(self, unit: Unit) -> UnitResult:
        """Do one unit. Raise to mark it failed (it is retried on the next run)."""
