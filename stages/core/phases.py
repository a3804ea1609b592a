"""Stages that need a global view run as phases (dedup: signatures → buckets → cluster → remove).

Each phase is an ordinary `Stage` with its own output folder (resume, done-markers, ranks, workers,
locks for free); the last phase writes OUTPUT itself, the others live under
`OUTPUT/_dscoder/phases/`. A phase reads the complete output of the one before it
(`completed_units`) and refuses to start before that is done, naming what is missing and why.
`run_phases` runs one phase (this rank's share) or every phase in order.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

from . import output
from .errors import UsageError
from .manifest import META, OutputLayout, describe_incomplete
from .runner import RunOptions, resolve_rank, run_stage
from .stage import Stage, Unit


def phase_dir(root: Path, phase: str, last: bool) -> Path:
    """Where a phase writes: OUTPUT itself for the last phase, else OUTPUT/_dscoder/phases/<phase>."""
    return Path(root) if last else Path(root) / META / "phases" / phase


def completed_units(folder: Path, phase: str, where: Path) -> list[Unit]:
    """The finished output shards of `phase` (in `folder`) as inputs of the next phase; a usage
    error naming what is missing (failed units with their error, markers without their shards)
    when it is not complete."""
    layout = OutputLayout(Path(folder))
    manifest = layout.read_manifest()
    if manifest is None:
        raise UsageError(f"phase `{phase}` is not complete in {where} (not started); "
                         f"run `--phase {phase}` (all ranks) first")
    states = layout.unit_states(manifest)
    if not states.complete:
        what = describe_incomplete(folder, manifest, states)
        fix = ("fix the cause (see its errors in " + str(layout.errors) + "), then re-run "
               if states.failed else "re-run ")
        raise UsageError(f"phase `{phase}` is not complete in {where}: {what}; {fix}`--phase {phase}` "
                         "(all ranks) to complete it")
    return [Unit(u["name"], [{"path": str(layout.shard(u["name"])),
                              "size": layout.shard(u["name"]).stat().st_size}]) for u in manifest["units"]]


def _phased_output(root: Path) -> bool:
    """Ours: OUTPUT has its own manifest (the last phase ran), or holds only `_dscoder/` (phases)."""
    return (root / META / "manifest.json").exists() or all(p.name == META for p in root.iterdir())


def _holds_only_locks(root: Path) -> bool:
    return all(p.is_dir() or (p.suffix == ".lock" and p.parent.name == "locks") for p in root.rglob("*"))


PHASED_OUTPUT = output.OutputKind("dscoder output", is_ours=_phased_output)


def run_phases(root: Path, phases: dict[str, Callable[[], Stage]], phase: str, run: RunOptions) -> dict:
    """Run `phase` (this rank's share) or, with `all`, every phase in order on this machine.

    `phases` maps each phase name, in order, to a factory of its Stage; the last one is OUTPUT's own
    stage. Returns the last phase's summary, with `phase` and `phases` (seconds per phase run).
    """
    names = list(phases)
    if phase != "all" and phase not in phases:
        raise UsageError(f"unknown --phase {phase!r}; choose from all, {', '.join(names)}")
    rank, world_size = resolve_rank(run.rank, run.world_size)
    if phase == "all" and world_size > 1:
        raise UsageError("--phase all runs every phase on one machine; with --world-size > 1 run each "
                         f"phase as its own array (--phase {', '.join(names)})")
    root = Path(root)
    final_stage = phases[names[-1]]()
    final = final_stage.name
    output.check_inputs(root, final_stage.inputs(), run.overwrite)  # before any advice to --overwrite
    manifest = OutputLayout(root).read_manifest() if root.is_dir() and not run.overwrite else None
    if manifest is not None and manifest.get("stage") != final:
        raise UsageError(f"{root} holds the output of `{manifest['stage']}`, not `{final}`; "
                         "use another output folder or --overwrite")
    # The whole phased run is one writer per rank (`phases-rank-R`); each phase also locks its folder.
    handle = output.open_output(root, PHASED_OUTPUT, overwrite=run.overwrite, world_size=world_size,
                                inputs=final_stage.inputs(), lock=f"phases-rank-{rank}",
                                log=run.reporter.log, command=run.command)
    seconds, summary = {}, {}
    try:
        for name in (names if phase == "all" else [phase]):
            folder = phase_dir(root, name, last=name == names[-1])
            summary = run_stage(phases[name](), replace(run, output=folder, overwrite=False, rank=rank,
                                                        world_size=world_size))
            seconds[name] = summary["this_run"]["seconds"]
    except BaseException:
        if handle.created and _holds_only_locks(root):  # a failed first invocation leaves no folder
            handle.discard()
        raise
    finally:
        handle.release()
    summary["phase"] = phase
    summary["phases"] = seconds
    return summary
