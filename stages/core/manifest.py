"""The output folder's metadata: `_dscoder/manifest.json`, done-markers, stats, errors.

Layout (docs/architecture.md, docs/formats.md):

    OUTPUT/part-00000.parquet            kept rows
    OUTPUT/_rejected/part-00000.parquet  dropped rows, with a `reason` column
    OUTPUT/_dscoder/manifest.json        stage, version, options, units (inputs), command -- written once
    OUTPUT/_dscoder/done/<unit>.json     per unit: rows in/out, bytes, seconds, counters, errors, and
                                         the files it wrote with their sizes (`outputs`)
    OUTPUT/_dscoder/failed/<unit>.json   per unit that raised: the error (retried on re-run)
    OUTPUT/_dscoder/stats.json           merged from the done-markers
    OUTPUT/_dscoder/errors.jsonl         every reported error, merged
    OUTPUT/_dscoder/locks/               one lock file per writer (stages/core/lock.py)

A unit is done when its marker is readable *and* every file it lists is there with its recorded
size (`unit_states`): a marker without its shard, or an unreadable marker, means "redo that unit".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UsageError

META = "_dscoder"
REJECTED = "_rejected"


@dataclass
class UnitStates:
    """Where each unit of a manifest stands."""

    done: dict[str, dict] = field(default_factory=dict)         # marker verified: the unit's files are there
    missing_output: dict[str, list[str]] = field(default_factory=dict)  # marker, but these files gone/changed
    corrupt: list[str] = field(default_factory=list)            # marker unreadable (empty, torn)
    failed: dict[str, dict] = field(default_factory=dict)       # failed marker and no done one
    pending: list[str] = field(default_factory=list)            # not done, in manifest order (all of the above)
    total: int = 0

    @property
    def complete(self) -> bool:
        return not self.pending


@dataclass(frozen=True)
class OutputLayout:
    root: Path

    @property
    def meta(self) -> Path:
        return self.root / META

    @property
    def manifest(self) -> Path:
        return self.meta / "manifest.json"

    @property
    def stats(self) -> Path:
        return self.meta / "stats.json"

    @property
    def errors(self) -> Path:
        return self.meta / "errors.jsonl"

    def shard(self, unit: str) -> Path:
        return self.root / f"{unit}.parquet"

    def rejected(self, unit: str) -> Path:
        return self.root / REJECTED / f"{unit}.parquet"

    def done(self, unit: str) -> Path:
        return self.meta / "done" / f"{unit}.json"

    def failed(self, unit: str) -> Path:
        return self.meta / "failed" / f"{unit}.json"

    def read_manifest(self) -> dict | None:
        """The manifest, None when there is none; a usage error naming it when it is damaged."""
        try:
            text = self.manifest.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            manifest = json.loads(text)
            if not isinstance(manifest, dict) or "stage" not in manifest or "units" not in manifest:
                raise ValueError("not a dscoder manifest (no stage and units)")
        except ValueError as exc:
            what = "empty" if not text.strip() else f"not a valid manifest ({exc})"
            raise UsageError(f"{self.manifest} is {what}: the record of {self.root} is damaged, so it "
                             "cannot be resumed; re-run with --overwrite to start over") from None
        return manifest

    def _read_markers(self, kind: str) -> tuple[dict[str, dict], list[str]]:
        """(readable markers by unit, units whose marker is unreadable)."""
        folder = self.meta / kind
        if not folder.is_dir():
            return {}, []
        out, corrupt = {}, []
        for path in sorted(folder.glob("*.json")):
            try:
                marker = json.loads(path.read_text(encoding="utf-8"))
                if not isinstance(marker, dict):
                    raise ValueError("not an object")
                out[path.stem] = marker
            except (OSError, ValueError):
                corrupt.append(path.stem)
        return out, corrupt

    def done_markers(self) -> dict[str, dict]:
        """The readable done-markers (not yet checked against their files: `unit_states`)."""
        return self._read_markers("done")[0]

    def failed_markers(self) -> dict[str, dict]:
        return self._read_markers("failed")[0]

    def unit_outputs(self, unit: str, marker: dict) -> dict[str, int | None]:
        """The files a done unit wrote (relative to root) and their sizes (None: not recorded)."""
        if isinstance(marker.get("outputs"), dict):
            return dict(marker["outputs"])
        # Markers written before `outputs` was recorded: the unit's own files beside the marker.
        found = {p.name: None for p in self.root.glob(f"{unit}.*") if p.is_file()}
        return found or {f"{unit}.parquet": None}

    def missing_outputs(self, unit: str, marker: dict) -> list[str]:
        missing = []
        for rel, size in self.unit_outputs(unit, marker).items():
            try:
                actual = (self.root / rel).stat().st_size
            except OSError:
                missing.append(rel)
                continue
            if size is not None and actual != size:
                missing.append(f"{rel} (size {actual}, recorded {size})")
        return missing

    def unit_states(self, manifest: dict | None = None) -> UnitStates:
        manifest = manifest if manifest is not None else (self.read_manifest() or {"units": []})
        markers, corrupt = self._read_markers("done")
        failed, _ = self._read_markers("failed")
        states = UnitStates(total=len(manifest["units"]))
        for u in manifest["units"]:
            name = u["name"]
            if name in markers:
                missing = self.missing_outputs(name, markers[name])
                if not missing:
                    states.done[name] = markers[name]
                    continue
                states.missing_output[name] = missing
            elif name in corrupt:
                states.corrupt.append(name)
            if name in failed:
                states.failed[name] = failed[name]
            states.pending.append(name)
        return states


def merge_stats(manifest: dict, done: dict[str, dict], failed: dict[str, dict]) -> dict:
    """Add up the done-markers. `rows_in == rows_kept + rows_rejected` holds per unit and in total."""
    total = {"rows_in": 0, "rows_kept": 0, "rows_rejected": 0, "rows_out": 0, "bytes_in": 0, "bytes_out": 0,
             "seconds": 0.0, "errors": 0}
    counters: dict[str, int] = {}
    for marker in done.values():
        for key in total:
            total[key] += marker.get(key, 0)
        for name, value in marker.get("counters", {}).items():
            counters[name] = counters.get(name, 0) + value
    units = [u["name"] for u in manifest.get("units", [])]
    total["errors"] += len(manifest.get("plan_errors", []))
    return {
        "stage": manifest.get("stage"),
        "shards_total": len(units),
        "shards_done": sum(1 for u in units if u in done),
        "shards_failed": sorted(u for u in failed if u not in done),
        **total,
        "seconds": round(total["seconds"], 3),
        "counters": dict(sorted(counters.items())),
    }


def merged_errors(manifest: dict, done: dict[str, dict], failed: dict[str, dict]) -> list[dict]:
    errors = [{"unit": None, **e} for e in manifest.get("plan_errors", [])]
    for unit, marker in done.items():
        errors.extend({"unit": unit, **e} for e in marker.get("error_list", []))
    for unit, marker in failed.items():
        if unit not in done:
            errors.append({"unit": unit, **(marker.get("error") or {"error": "failed"})})
    return errors


def completing_command(manifest: dict, folder: Path) -> str:
    """The command that completes (resumes) an output: the one recorded in its manifest, or its
    shape when the manifest predates that record."""
    if manifest.get("command"):
        return manifest["command"]
    opts = manifest.get("options", {})
    source = opts.get("input") or opts.get("source") or "INPUT"
    return f"dscoder {manifest.get('stage', 'STAGE')} {source} {folder} (with the options in its manifest)"


def _names(units: list[str], limit: int = 5) -> str:
    return ", ".join(units[:limit]) + (f" and {len(units) - limit} more" if len(units) > limit else "")


def describe_incomplete(folder: Path, manifest: dict, states: UnitStates) -> str:
    """"`stage` output F has N of M units missing (…)": what is missing from an output, and why."""
    parts = []
    if states.failed:
        first = next(iter(states.failed.values())).get("error", {}).get("error", "")
        parts.append(f"failed: {_names(sorted(states.failed))}" + (f" ({first})" if first else ""))
    if states.missing_output:
        unit, files = next(iter(states.missing_output.items()))
        parts.append(f"done-marker without its files: {_names(sorted(states.missing_output))} "
                     f"({unit}: {', '.join(files)})")
    if states.corrupt:
        parts.append(f"unreadable done-marker: {_names(states.corrupt)}")
    other = [u for u in states.pending if u not in states.failed and u not in states.missing_output
             and u not in states.corrupt]
    if other:
        parts.append(f"not done: {_names(other)}")
    return (f"`{manifest.get('stage')}` output {folder} has {len(states.pending)} of {states.total} units "
            f"missing ({'; '.join(parts)})")


def check_complete_input(folder: Path | str, allow_partial: bool = False, log=None,
                         allow_flag: str | None = "--allow-partial") -> UnitStates | None:
    """Refuse (IncompleteInput, exit 2) an input folder that is a dscoder output with units that are
    missing, failed, or done without their files, unless `allow_partial` (then: a warning, and the
    stage reads only the done units' shards). None when `folder` is not a dscoder output.
    `allow_flag`: the option that allows it, named in the message (None: the command has none)."""
    from .errors import IncompleteInput

    layout = OutputLayout(Path(folder))
    if not layout.manifest.is_file():
        return None
    try:
        manifest = layout.read_manifest()
    except UsageError as exc:
        raise IncompleteInput(f"input {folder}: {exc}") from None
    states = layout.unit_states(manifest)
    if states.complete:
        return states
    what = describe_incomplete(folder, manifest, states)
    if allow_partial:
        if log:
            log(f"warning: input {what}; --allow-partial: reading its {len(states.done)} done units only")
        return states
    raise IncompleteInput(f"input {what}; complete it first: re-run `{completing_command(manifest, folder)}` "
                          "(it resumes, redoing only those units)"
                          + (f", or pass {allow_flag} to read only its done units" if allow_flag else ""))


def done_unit_names(folder: Path) -> set[str] | None:
    """The verified-done units of a dscoder output folder; None when `folder` is not one."""
    layout = OutputLayout(Path(folder))
    if not layout.manifest.is_file():
        return None
    return set(layout.unit_states().done)
