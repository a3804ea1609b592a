"""Run a stage over its units: the stage contract (docs/architecture.md), implemented once.

- atomic shard writes, the done-marker written last (with the files it stands for), so a killed run
  (SIGKILL included) resumes by doing exactly the units that are not verifiably done;
- the manifest records stage, version, options, units and the command; a re-run with other options
  is refused; `--overwrite` never deletes an input and never runs while another writer holds a lock;
- an input that is an incomplete dscoder output is refused unless `--allow-partial`;
- one writer per rank: a lock per OUTPUT and rank (`stages/core/lock.py`);
- `workers` processes on one machine (they die with the runner); `rank`/`world_size` (default: the
  Slurm array variables) take every world_size-th unit, so array tasks need no coordinator;
- stats and errors are merged from the markers of every rank after each run; a run whose units
  failed exits 1 (Slurm's `afterok` holds the next stage) unless `--keep-going`.
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
from .atomic import create_json_exclusive, remove_stale_tmp, sweep_stale_tmp, write_json_atomic, write_text_atomic
from .config import option
from .errors import DscoderError, OutputWriteError, UsageError
from .manifest import META, REJECTED, OutputLayout, UnitStates, check_complete_input, merge_stats, merged_errors
from .output import OutputKind
from .processes import die_with_parent
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
    overwrite: bool = option(False, "Delete OUTPUT and start over (never an input inside it).", flag="--overwrite")
    allow_partial: bool = option(False, "Read an input that is an incomplete dscoder output (only its done "
                                 "shards) instead of refusing it.", flag="--allow-partial")
    keep_going: bool = option(False, "Exit 0 even when shards failed (they are reported, and redone by the "
                              "next run).", flag="--keep-going")
    strict: bool = option(False, "Also exit 1 when per-file errors were reported (errors.jsonl).", flag="--strict")
    reporter: Reporter = option(default_factory=Reporter, cli=False)
    # open OUTPUT and run prepare() (tokenize: the tokenizer), no units
    prepare_only: bool = option(False, cli=False)
    command: str | None = option(None, cli=False)  # the command line, recorded in the manifest


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


def unit_paths(units: list[Unit]) -> list[Path]:
    """The local files and folders units read (shard paths, crawl's repositories)."""
    found = []
    for u in units:
        for item in u.inputs:
            for key in ("path", "location"):
                value = item.get(key)
                if isinstance(value, str) and os.path.isabs(value):
                    found.append(Path(value))
    return found


@dataclass
class Opened:
    layout: OutputLayout
    units: list[Unit]
    handle: output.OpenedOutput
    created_manifest: bool  # this call wrote the manifest: the output held nothing before

    def undo(self, world_size: int) -> None:
        """A run that failed before doing any unit leaves nothing behind that would refuse the
        corrected command (no folder it created, no manifest with the failed options)."""
        if self.created_manifest and world_size == 1:
            if self.handle.created:
                self.handle.discard()
                return
            self.layout.manifest.unlink(missing_ok=True)
        self.handle.release()


def open_output(stage: Stage, run: RunOptions, world_size: int, rank: int = 0) -> Opened:
    """Check the inputs, then create or re-open OUTPUT under this rank's lock; nothing is written
    before every check that can fail on the command line has passed."""
    layout = OutputLayout(Path(run.output))
    root = layout.root
    inputs = stage.inputs()
    output.check_inputs(root, inputs, run.overwrite)  # before any message that advises --overwrite
    for folder in inputs:  # before anything is written
        check_complete_input(folder, run.allow_partial, stage.log)
    units = None
    existing = None if run.overwrite or not root.is_dir() else layout.read_manifest()
    if existing is None:
        units = stage.plan()  # before OUTPUT exists: a plan that fails leaves nothing behind
        if not units:
            problems = "; ".join(e["error"] for e in getattr(stage, "plan_errors", [])[:5])
            raise UsageError(f"{stage.name}: nothing to do (the input has no units of work)"
                             + (f": {problems}" if problems else ""))
    handle = output.open_output(root, DATA_OUTPUT, overwrite=run.overwrite, world_size=world_size,
                                inputs=inputs + unit_paths(units or []), lock=f"rank-{rank}",
                                log=stage.log, command=run.command)
    opened = Opened(layout, [], handle, False)
    try:
        manifest = layout.read_manifest()  # again, under the lock: another rank may have written it
        options = stage.options()
        if manifest is None:
            if units is None:
                units = stage.plan()
            candidate = {"stage": stage.name, "dscoder_version": __version__, "options": options,
                         "plan_errors": list(getattr(stage, "plan_errors", [])),
                         "units": [u.to_json() for u in units], "command": run.command}
            if create_json_exclusive(layout.manifest, candidate):
                manifest, opened.created_manifest = candidate, True
            else:  # another rank was first
                manifest = layout.read_manifest()
        if manifest["stage"] != stage.name:
            raise UsageError(f"{root} holds the output of `{manifest['stage']}`, not `{stage.name}`; "
                             "use another output folder or --overwrite")
        output.refuse_changed(root, manifest["options"], options)
        opened.units = [Unit.from_json(u) for u in manifest["units"]]
        stage.check_units(opened.units)
    except BaseException:
        opened.undo(world_size)
        raise
    return opened


def _outputs(layout: OutputLayout, unit: str, kept_written: bool, rejected_written: bool) -> dict[str, int]:
    """The files a unit wrote, relative to OUTPUT, with their sizes: what its marker stands for."""
    files = [layout.shard(unit)] if kept_written else sorted(p for p in layout.root.glob(f"{unit}.*") if p.is_file())
    if rejected_written:
        files.append(layout.rejected(unit))
    return {str(p.relative_to(layout.root)): p.stat().st_size for p in files}


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
        outputs = _outputs(layout, unit.name, kept is not None, bool(n_rejected))
    except OutputWriteError:
        raise  # OUTPUT cannot be written: the run stops (every other unit would fail alike)
    except Exception as exc:  # noqa: BLE001 -- a unit's failure is reported, the rest goes on
        error = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(limit=8)}
        write_json_atomic(layout.failed(unit.name), {"unit": unit.name, "error": error})
        return "failed", error
    marker = {
        "unit": unit.name, "rows_in": result.rows_in, "rows_kept": n_kept, "rows_out": rows_out,
        "rows_rejected": n_rejected, "bytes_in": result.bytes_in, "bytes_out": bytes_out,
        "seconds": round(time.monotonic() - t0, 3), "counters": dict(sorted(result.counters.items())),
        "errors": len(result.errors), "error_list": result.errors, "outputs": outputs,
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
    return _finalize(layout)[0]


def _finalize(layout: OutputLayout) -> tuple[dict, UnitStates]:
    manifest = layout.read_manifest() or {"units": []}
    states = layout.unit_states(manifest)
    stats = merge_stats(manifest, states.done, states.failed)
    stats["shards_pending"] = states.pending
    stats["shards_missing_output"] = sorted(states.missing_output)
    stats["markers_unreadable"] = states.corrupt
    write_json_atomic(layout.stats, stats)
    errors = merged_errors(manifest, states.done, states.failed)
    write_text_atomic(layout.errors, "".join(json.dumps(e, default=str) + "\n" for e in errors))
    return stats, states


def tidy(layout: OutputLayout, states: UnitStates, mine: list[Unit], log) -> None:
    """Repair what killed runs leave: temporary files of dead writers, failed-markers beside a done
    unit, and the markers of this rank's units that are not really done (redone now)."""
    meta = layout.meta
    sweep_stale_tmp([layout.root, layout.root / REJECTED, meta, meta / "done", meta / "failed"])
    for name in states.done:
        layout.failed(name).unlink(missing_ok=True)
    for u in mine:
        if u.name in states.missing_output:
            log(f"{u.name}: done-marker without its files ({', '.join(states.missing_output[u.name])}); redoing it")
            layout.done(u.name).unlink(missing_ok=True)
        elif u.name in states.corrupt:
            log(f"{u.name}: unreadable done-marker {layout.done(u.name)}; redoing that unit")
            layout.done(u.name).unlink(missing_ok=True)


def run_stage(stage: Stage, run: RunOptions) -> dict:
    """Run (or resume) `stage` into `run.output`; returns the summary.

    Raises RunFailure (exit 1, with the summary) when units of this run failed (unless `keep_going`)
    or, with `strict`, when errors were reported.
    """
    if run.workers < 1:
        raise UsageError("--workers must be at least 1")
    rank, world_size = resolve_rank(run.rank, run.world_size)
    reporter = run.reporter
    stage.log = reporter.log  # before open_output: plan() may report (crawl resolving its source)
    opened = open_output(stage, run, world_size, rank)
    layout, units = opened.layout, opened.units
    started = False
    try:
        stage.workers = run.workers
        stage.prepare(layout.root)
        mine = [] if run.prepare_only else units[rank::world_size]
        manifest = layout.read_manifest()
        states = layout.unit_states(manifest)
        tidy(layout, states, mine, reporter.log)
        todo = [u for u in mine if u.name not in states.done]
        started = True
        summary = _process(stage, layout, run, todo, mine, reporter)
    except BaseException:
        if not started:
            opened.undo(world_size)
        raise
    finally:
        opened.handle.release()
    summary.update(rank=rank, world_size=world_size)
    mine_done = summary.pop("_done")
    errors = len(manifest.get("plan_errors", [])) + sum(mine_done[u.name].get("errors", 0)
                                                        for u in mine if u.name in mine_done)
    failed = summary["this_run"]["shards_failed"]
    if failed and (run.strict or not run.keep_going):
        raise RunFailure(summary, failed_message(summary, failed, len(mine)))
    if run.strict and errors:
        raise RunFailure(summary, f"{errors} errors were reported (--strict); "
                                  f"see {summary['output']}/_dscoder/errors.jsonl")
    return summary


def _process(stage: Stage, layout: OutputLayout, run: RunOptions, todo: list[Unit], mine: list[Unit],
             reporter: Reporter) -> dict:
    reporter.start(stage.name, len(todo), len(mine), sum(u.size for u in todo))
    t0 = time.monotonic()
    failed_now: dict[str, str] = {}

    def record(unit: Unit, status: str, payload: dict) -> None:
        if status == "done":
            reporter.unit_done(unit.name, payload, unit.size)
        else:
            failed_now[unit.name] = payload["error"]
            reporter.unit_failed(unit.name, payload["error"], unit.size)

    try:
        if run.workers == 1 or len(todo) <= 1:
            for unit in todo:
                record(unit, *_run_unit(stage, layout, unit))
        else:
            # fork: workers inherit the stage object; only unit names cross the process boundary.
            global _FORKED
            _FORKED = (stage, layout)
            stage.warm_up()  # once here, not once per worker
            with ProcessPoolExecutor(max_workers=min(run.workers, len(todo)), mp_context=get_context("fork"),
                                     initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
                # Largest first: the pool takes units in this order, so no big shard is left for last.
                futures = {pool.submit(_run_forked_unit, u): u for u in sorted(todo, key=lambda u: -u.size)}
                try:
                    for fut in as_completed(futures):
                        record(futures[fut], *fut.result())
                except BaseException:
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
    finally:
        reporter.close()
    stats, states = _finalize(layout)
    failed = sorted(failed_now)
    return {**stats, "output": str(layout.root), "_done": states.done,
            "this_run": {"shards_done": len(todo) - len(failed), "shards_failed": failed,
                         "shards_skipped": len(mine) - len(todo), "seconds": round(time.monotonic() - t0, 3),
                         **({"first_error": failed_now[failed[0]]} if failed else {})}}


def failed_message(summary: dict, failed: list[str], n_mine: int) -> str:
    names = ", ".join(failed[:5]) + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
    first = summary["this_run"].get("first_error", "")
    return (f"{len(failed)} of {n_mine} shards failed ({names}{': ' + first if first else ''}); the rest are "
            f"done. Errors: {summary['output']}/_dscoder/errors.jsonl. Fix the cause and re-run the same "
            "command to redo only those shards (--keep-going: exit 0 anyway)")


class RunFailure(DscoderError):
    """Units failed (or, with --strict, errors were reported); carries the summary so the CLI can
    still print it."""

    def __init__(self, summary: dict, message: str):
        self.summary = summary
        super().__init__(message)

    def __reduce__(self):
        return (type(self), (self.summary, str(self)))


StrictFailure = RunFailure  # the name before --keep-going existed
