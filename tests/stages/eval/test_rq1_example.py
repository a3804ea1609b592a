"""docs/eval.md's worked RQ1 experiment, run as written (the lines between `<!-- rq1-commands -->`
and `<!-- /rq1-commands -->`) at tiny scale: two models on repository-level and file-level samples
of the same files and tokens, compared on a cross-file benchmark built from held-out repositories.
It checks that the commands run and that the two arms are comparable, not the paper's result."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from eval_test_helpers import REPO, read_jsonl  # noqa: E402

STDLIB = Path(sysconfig.get_paths()["stdlib"])
TRAIN = ("asyncio", "xml", "unittest", "sqlite3", "ctypes", "multiprocessing")
HELDOUT = ("json", "email", "concurrent", "tomllib")


def docs_commands() -> str:
    text = (REPO / "docs" / "eval.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- rq1-commands -->\n```bash\n(.*?)```\n<!-- /rq1-commands -->", text, re.S)
    assert m, "docs/eval.md: no rq1-commands block"
    return m.group(1)


def test_the_docs_rq1_experiment_runs_and_its_arms_compare(tmp_path):
    pytest.importorskip("megatron.core")
    for name in TRAIN + HELDOUT:
        if not (STDLIB / name).is_dir():
            pytest.skip(f"the standard library has no {name}/ here")
    (tmp_path / "train.txt").write_text("".join(f"{STDLIB / n}\n" for n in TRAIN))
    (tmp_path / "heldout.txt").write_text("".join(f"{STDLIB / n}\n" for n in HELDOUT))
    env = {**os.environ, "DSC": str(Path(sys.executable).parent / "dscoder"), "OUT": str(tmp_path / "rq1"),
           "TRAIN_REPOS": str(tmp_path / "train.txt"), "HELDOUT_REPOS": str(tmp_path / "heldout.txt"),
           "TRAIN": "--model tiny --steps 2 --warmup-steps 1 --seq-length 64 --global-batch 4 --micro-batch 4 "
                    "--save-interval 2",
           "EVAL": "--limit 3 --max-new-tokens 4 --backend transformers --device cpu",
           "DSCODER_BENCHMARKS_DIR": ""}
    script = "set -euo pipefail\n" + docs_commands()
    r = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-4000:]
    out = tmp_path / "rq1"
    # The two arms: the same files, one sample per repository component against one per file.
    stats = {arm: json.loads((out / f"{arm}-tokens/_dscoder/stats.json").read_text())["counters"]
             for arm in ("repo", "file")}
    assert stats["repo"]["documents"] < stats["file"]["documents"]
    assert abs(stats["repo"]["tokens"] - stats["file"]["tokens"]) < 0.01 * stats["file"]["tokens"]
    # ... trained for the same tokens (same steps, batch and sequence).
    seen = {}
    for arm in ("repo", "file"):
        metrics = [m for m in read_jsonl(out / f"{arm}-model/metrics.jsonl") if "loss" in m]
        assert len(metrics) == 2
        seen[arm] = metrics[-1]["tokens"]
    assert seen["repo"] == seen["file"] == 2 * 4 * 64
    # The benchmark: held-out repositories only, every task with retrieved context.
    tasks = read_jsonl(out / "bench/python/line_completion_rg1_bm25.jsonl")
    assert tasks and {t["metadata"]["repository"] for t in tasks} <= set(HELDOUT)
    assert all(t["crossfile_context"]["list"] for t in tasks)
    # Both models evaluated on the same tasks, with and without retrieval.
    summaries = {arm: json.loads((out / f"eval-{arm}/summary.json").read_text()) for arm in ("repo", "file")}
    for arm, s in summaries.items():
        for bench in ("crosscodeeval", "crosscodeeval-infile"):
            b = s["benchmarks"][bench]
            assert (b["tasks"], b["generated"], b["tasks_executed"]) == (3, 3, 3), (arm, bench, b)
            assert 0.0 <= b["em"] <= 100.0 and 0.0 <= b["es"] <= 100.0
    ids = {arm: [g["task_id"] for g in read_jsonl(out / f"eval-{arm}/crosscodeeval/generations.jsonl")]
           for arm in ("repo", "file")}
    assert ids["repo"] == ids["file"] == [t["metadata"]["task_id"] for t in tasks[:3]]
