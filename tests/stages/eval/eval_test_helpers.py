"""Shared by tests/stages/eval: where the benchmark data is, and small builders."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SHARED_BENCHMARKS = Path(os.environ.get("DSCODER_BENCHMARKS_DIR", REPO.parent / "shared" / "benchmarks"))

needs_data = pytest.mark.skipif(not (SHARED_BENCHMARKS / "mbpp.jsonl").exists(),
                                reason=f"benchmark data not found in {SHARED_BENCHMARKS}")


def write_jsonl(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def skip_without(language: str) -> None:
    from stages.eval.execute import detect_toolchain
    missing = detect_toolchain(language)
    if missing:
        pytest.skip(f"{language}: {missing} (scripts/install-eval-toolchains.sh installs it)")
