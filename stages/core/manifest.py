"""The output folder's metadata: `_dscoder/manifest.json`, done-markers, stats, errors.

Layout (docs/architecture.md, docs/formats.md):

    OUTPUT/part-00000.parquet            kept rows
    OUTPUT/_rejected/part-00000.parquet  dropped rows, with a `reason` column
    OUTPUT/_dscoder/manifest.json        stage, version, options, units (inputs) -- written once
    OUTPUT/_dscoder/done/<unit>.json     per unit: rows in/out, bytes, seconds, counters, errors
    OUTPUT/_dscoder/failed/<unit>.json   per unit that raised: the error (retried on re-run)
    OUTPUT/_dscoder/stats.json           merged from the done-markers
    OUTPUT/_dscoder/errors.jsonl         every reported error, merged
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

META = "_dscoder"
REJECTED = "_rejected"


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
        if not self.manifest.exists():
            return None
        return json.loads(self.manifest.read_text(encoding="utf-8"))

    def _read_markers(self, kind: str) -> dict[str, dict]:
        folder = self.meta / kind
        if not folder.is_dir():
            return {}
        out = {}
        for path in sorted(folder.glob("*.json")):
            out[path.stem] = json.loads(path.read_text(encoding="utf-8"))
        return out

    def done_markers(self) -> dict[str, dict]:
        return self._read_markers("done")

    def failed_markers(self) -> dict[str, dict]:
        return self._read_markers("failed")


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
            errors.append({"unit": unit, **marker["error"]})
    return errors
