"""Run a stage over its units: the stage contract (docs/architecture.md), implemented once.

- atomic shard writes, the done-marker written last, so a killed run (SIGKILL included) resumes by
  doing exactly the units without a marker;
- the manifest records stage, version, options and units; a re-run with other options is refused;
- `workers` processes on one machine; `rank`/`world_size` (default: the Slurm array variables) take
  every world_size-th unit, so array tasks need no coordinator;
- stats and errors are merged from the markers of every rank after each run.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from . import __version__
from . import output
from .config import option
from .atomic import create_json_exclusive, remove_stale_tmp, write_json_atomic, write_text_atomic
from .errors import DscoderError, UsageError
from .manifest import META, OutputLayout, merge_stats, merged_errors
from .output import OutputKind
from .progress import Reporter
from .shards import write_shard
from .stage import Stage, Unit


@dataclass
class RunOptions:
    """How a stage runs (not what it computes: these never enter the manifest)."""

    output: Path = option(cli=False)
    workers: int = option(1, "Processes on this machine.", short="-w", min=1)
    rank: int | None = option(None, "This task's rank.", min=0, show="$SLURM_ARRAY_TASK_ID or 0")
    world_size: int | None = option(None, "Number of tasks sharing the shards.", min=1,
                                    show="$SLURM_ARRAY_TASK_COUNT or 1")
    overwrite: bool = option(False, "Delete OUTPUT and start over.", flag="--overwrite")
    strict: bool = option(False, "Exit 1 if any shard failed or any error was reported.", flag="--strict")
    reporter: Reporter = option(default_factory=Reporter, cli=False)
    # open OUTPUT and run prepare() (tokenize: the tokenizer), no units
    prepare_only: bool = option(False, cli=False)


def resolve_rank(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """Explicit values win; else a Slurm array task's id and count; else 0 of 1."""
    env = os.environ
    if world_size is None and "SLURM_ARRAY_TASK_COUNT" in env:
        world_size = int(env["SLURM_ARRAY_TASK_COUNT"])
    if rank is None and "SLURM_ARRAY_TASK_ID" in env:
        # Arrays may start at any index (--array=1-4): rank is the offset from the first task.
        rank = int(env["SLURM_ARRAY_TASK_ID"]) - int(env.get("SLURM_ARRAY_TASK_MIN", 0))
    rank = 0 if rank is None else rank
    world_size = 1 if world_size is None else world_size
    if world_size < 1 or not 0 <= rank < world_size:
        raise UsageError(f"--rank {rank} is outside --world-size {world_size} (need 0 <= rank < world size)")
    return rank, world_size


DATA_OUTPUT = OutputKind("dscoder output", is_ours=lambda root: (root / META / "manifest.json").exists(),
                         may_hold=frozenset({META}))


def open_output(stage: Stage, run: RunOptions, world_size: int) -> tuple[OutputLayout, list[Unit]]:
    """Create or re-open OUTPUT; returns the layout and the units recorded in its manifest."""
    layout = OutputLayout(Path(run.output))
    root = layout.root
    output.open_output(root, DATA_OUTPUT, overwrite=run.overwrite, world_size=world_size)
    manifest = layout.read_manifest()
    options = stage.options()
    if manifest is None:
        units = stage.plan()
        if not units:
            problems = "; ".join(e["error"] for e in getattr(stage, "plan_errors", [])[:5])
            raise UsageError(f"{stage.name}: nothing to do (the input has no units of work)"
                             + (f": {problems}" if problems else ""))
        candidate = {"stage": stage.name, "dscoder_version": __version__, "options": options,
                     "plan_errors": list(getattr(stage, "plan_errors", [])),
                     "units": [u.to_json() for u in units]}
        if not create_json_exclusive(layout.manifest, candidate):  # another rank was first
            manifest = layout.read_manifest()
        else:
            manifest = candidate
    if manifest["stage"] != stage.name:
        raise UsageError(f"{root} holds the output of `{manifest['stage']}`, not `{stage.name}`; "
                         "use another output folder or --overwrite")
    output.refuse_changed(root, manifest["options"], options)
    units = [Unit.from_json(u) for u in manifest["units"]]
    stage.check_units(units)
    return layout, units


def _run_unit(stage: Stage, layout: OutputLayout, unit: Unit) -> tuple[str, dict]:
    """Process one unit and write its shards and marker. Runs in a worker process."""
    t0 = time.monotonic()
    for path in (layout.shard(unit.name), layout.rejected(unit.name), layout.done(unit.name)):
        remove_stale_tmp(path)
    try:
        result = stage.process(unit)
        kept, rejected = result.kept, result.rejected
        n_rejected = 0 if rejected is None else rejected.num_rows
        rows_out = result.rows_out if kept is None else kept.num_rows  # kept=None: the stage wrote its files
        n_kept = rows_out if result.rows_accounted is None else result.rows_accounted
        if result.rows_in != n_kept + n_rejected:
            raise AssertionError(f"{stage.name} lost rows in {unit.name}: in {result.rows_in} != "
                                 f"kept {n_kept} + rejected {n_rejected}")
        if n_rejected:
            write_shard(rejected, layout.rejected(unit.name))
        else:
            layout.rejected(unit.name).unlink(missing_ok=True)
        bytes_out = result.bytes_out if kept is None else write_shard(kept, layout.shard(unit.name))
    except Exception as exc:  # noqa: BLE001 -- a unit's failure is reported, the rest goes on
        error = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(limit=8)}
        write_json_atomic(layout.failed(unit.name), {"unit": unit.name, "error": error})
        return "failed", error
    marker = {
        "unit": unit.name, "rows_in": result.rows_in, "rows_kept": n_kept, "rows_out": rows_out,
        "rows_rejected": n_rejected, "bytes_in": result.bytes_in, "bytes_out": bytes_out,
        "seconds": round(time.monotonic() - t0, 3), "counters": dict(sorted(result.counters.items())),
        "errors": len(result.errors), "error_list": result.errors,
    }
    write_json_atomic(layout.done(unit.name), marker)  # last: the unit now counts as done
    layout.failed(unit.name).unlink(missing_ok=True)
    return "done", marker


_FORKED: tuple[Stage, OutputLayout] | None = None


def _run_forked_unit(unit: Unit) -> tuple[str, dict]:
    stage, layout = _FORKED
    return _run_unit(stage, layout, unit)


def finalize(layout: OutputLayout) -> dict:
    """Merge every rank's markers into stats.json and errors.jsonl; return the merged stats."""
    manifest = layout.read_manifest() or {}
    done, failed = layout.done_markers(), layout.failed_markers()
    stats = merge_stats(manifest, done, failed)
    write_json_atomic(layout.stats, stats)
    errors = merged_errors(manifest, done, failed)
    write_text_atomic(layout.errors, "".join(json.dumps(e, default=str) + "\n" for e in errors))
    return stats


def run_stage(stage: Stage, run: RunOptions) -> dict:
    """Run (or resume) `stage` into `run.output`; returns the summary.

    Raises DscoderError (exit 1) when `strict` and anything failed or reported an error.
    """
    if run.workers < 1:
        raise UsageError("--workers must be at least 1")
    rank, world_size = resolve_rank(run.rank, run.world_size)
    reporter = run.reporter
    stage.log = reporter.log  # before open_output: plan() may report (crawl resolving its source)
    layout, units = open_output(stage, run, world_size)
    stage.prepare(layout.root)
    mine = [] if run.prepare_only else units[rank::world_size]
    todo = [u for u in mine if not layout.done(u.name).exists()]
    reporter.start(stage.name, len(todo), len(mine), sum(u.size for u in todo))
    t0 = time.monotonic()
    failed_now: list[str] = []

    def record(unit: Unit, status: str, payload: dict) -> None:
        if status == "done":
            reporter.unit_done(unit.name, payload, unit.size)
        else:
            failed_now.append(unit.name)
            reporter.unit_failed(unit.name, payload["error"], unit.size)

    try:
        if run.workers == 1 or len(todo) <= 1:
            for unit in todo:
                record(unit, *_run_unit(stage, layout, unit))
        else:
            # fork: workers inherit the stage object; only unit names cross the process boundary.
            global _FORKED
            _FORKED = (stage, layout)
            with ProcessPoolExecutor(max_workers=min(run.workers, len(todo)),
                                     mp_context=get_context("fork")) as pool:
                # Largest first: the pool takes units in this order, so no big shard is left for last.
                futures = {pool.submit(_run_forked_unit, u): u for u in sorted(todo, key=lambda u: -u.size)}
                for fut in as_completed(futures):
                    record(futures[fut], *fut.result())
    finally:
        reporter.close()
    stats = finalize(layout)
    summary = {**stats, "output": str(layout.root), "rank": rank, "world_size": world_size,
               "this_run": {"shards_done": len(todo) - len(failed_now), "shards_failed": failed_now,
                            "shards_skipped": len(mine) - len(todo),
                            "seconds": round(time.monotonic() - t0, 3)}}
    if run.strict and (stats["shards_failed"] or stats["errors"]):
        raise StrictFailure(summary)
    return summary


class StrictFailure(DscoderError):
    """--strict and something failed; carries the summary so the CLI can still print it."""

    def __init__(self, summary: dict):
        self.summary = summary
        super().__init__(f"{len(summary['shards_failed'])} shards failed and {summary['errors']} "
                         f"errors were reported (--strict); see {summary['output']}/_dscoder/errors.jsonl")
