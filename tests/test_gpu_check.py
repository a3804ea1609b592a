"""`scripts/gpu-check.sh --dry-run`: the GPU check's five steps at `tiny` size on the CPU, judged by
the content of its JSON report; the check's step bookkeeping (a failing step loses nothing else, a
global budget) and the carried-wheels installer."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import gpu_check  # noqa: E402
import gpu_wheels  # noqa: E402

PLAN = gpu_check.DRY_PLAN
S = PLAN.checkpoint_step


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("gpu-check")
    env = dict(os.environ, PYTHON=sys.executable)
    env.pop("DSCODER_LOCAL_ATTENTION", None)
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "gpu-check.sh"), "--dry-run", "--work", str(work)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    path = work / "gpu-check.json"
    assert path.exists(), proc.stderr[-4000:]
    r = json.loads(path.read_text())
    failed = {k: v.get("error") for k, v in r["steps"].items() if k != "resume" and v.get("status") != "ok"}
    assert proc.returncode == 0 and r["status"] == "ok", (failed, r["steps"].get("resume"), proc.stdout[-2000:])
    r["_work"] = str(work)
    return r


def test_the_dry_run_ran_every_step_on_the_cpu(report):
    steps = report["steps"]
    assert report["dry_run"] is True and report["device"] == "cpu" and report["plan"]["model"] == "tiny"
    assert list(steps) == ["environment", "data", "pretrain", "resume", "extend_context", "export_hf", "eval"]
    assert set(steps["resume"]) == {"gpu", "cpu"}
    for name, step in [*steps.items(), *(("resume." + k, v) for k, v in steps["resume"].items())]:
        if name != "resume":
            assert step["status"] == "ok" and step["seconds"] >= 0, (name, step)
    assert steps["environment"]["megatron_core"] == "0.16.1" and steps["environment"]["cuda_available"] is False
    assert report["seconds"] < report["budget_s"]
    logs = Path(report["_work"]) / "run" / "logs"
    assert {p.stem for p in logs.glob("*.log")} == {"pretrain", "resume-gpu", "resume-cpu", "extend-context",
                                                   "export-hf", "eval"}


def test_pretrain_numbers(report):
    p = report["steps"]["pretrain"]
    assert p["timed_steps"] == PLAN.timed and p["checkpoint_step"] == S
    assert p["layer_spec"] == "local-unfused" and p["params_dtype"] == "float32"
    assert p["runtime"] == "cpu, gloo, float32, layer spec local-unfused"
    for key in ("tokens_per_s", "tflops_per_device", "mfu", "peak_memory_gib", "step_time_s"):
        assert isinstance(p[key], float) and p[key] > 0, key
    assert math.isclose(p["tokens_per_s"] * p["step_time_s"], PLAN.global_batch * PLAN.seq_length, rel_tol=0.2)
    assert len(p["losses"]) == S + 1 and all(math.isfinite(x) for x in p["losses"])
    assert p["losses"][-1] < p["losses"][0]                 # it trains
    assert f"MFU {100 * p['mfu']:.1f}%" in report["note"] and f"{p['tokens_per_s']:,.0f} tokens/s" in report["note"]


def test_the_checkpoint_resumes_with_the_same_loss_on_both_paths(report):
    gpu, cpu = report["steps"]["resume"]["gpu"], report["steps"]["resume"]["cpu"]
    loss = report["steps"]["pretrain"]["loss_after_checkpoint"]
    assert gpu["from_step"] == S and gpu["exact"] is True and gpu["loss_resumed"] == loss
    assert cpu["start_step"] == S and cpu["device"] == "cpu" and cpu["saved_params_dtype"] == "float32"
    assert cpu["abs_diff"] <= 1e-6 * loss


def test_extend_context_step(report):
    e = report["steps"]["extend_context"]
    assert e["seq_length"] == PLAN.extend_seq and e["steps"] == 2 and len(e["losses"]) == 2
    assert e["tokens_per_s"] > 0 and e["peak_memory_gib"] > 0


def test_export_hf_greedy_tokens_equal_megatrons(report):
    g = report["steps"]["export_hf"]
    assert g["equal"] is True and g["first_difference"] is None
    assert len(g["megatron_tokens"]) == len(g["transformers_tokens"]) == PLAN.greedy_tokens
    assert g["megatron_tokens"] == g["transformers_tokens"]
    assert g["max_abs_logit_diff"] < 1e-4 and g["hf_folder_mb"] > 0


def test_eval_generated_and_executed_every_task(report):
    e = report["steps"]["eval"]
    assert e["tasks"] == e["generated"] == e["executed"] == PLAN.eval_tasks
    assert sum(e["statuses"].values()) == PLAN.eval_tasks and 0.0 <= e["pass@1"] <= 1.0


def test_profile_table_of_the_profiled_steps(report):
    prof = report["profile"]
    assert prof["device"] == "cpu" and prof["total_self_time_ms"] > 0 and "Self CPU" in prof["table"]
    assert prof["top"] and all(k["name"] and k["self_time_ms"] > 0 and k["calls"] > 0 for k in prof["top"])
    assert prof["top"][0]["self_time_ms"] >= prof["top"][-1]["self_time_ms"]


# ----------------------------------------------------------------------------- bookkeeping
def test_a_failing_step_loses_nothing_else_and_the_budget_holds(tmp_path):
    check = gpu_check.Check(tmp_path, tmp_path / "r.json", PLAN, dry_run=True, budget=60, device="cpu")

    def broken(timeout):
        raise RuntimeError("boom")

    def failing(timeout):
        raise gpu_check.StepFailed("bad loss", loss=1.5)

    check.step("a", broken)
    check.step("b", failing)
    check.step("c", lambda t: {"x": 1}, needs=("a",))
    check.step("d", lambda t: {"timeout_given": t})
    on_disk = json.loads((tmp_path / "r.json").read_text())["steps"]
    assert on_disk["a"]["status"] == "failed" and "boom" in on_disk["a"]["error"] and "traceback" in on_disk["a"]
    assert on_disk["b"] == {"status": "failed", "error": "bad loss", "loss": 1.5, "seconds": on_disk["b"]["seconds"]}
    assert on_disk["c"]["status"] == "skipped" and "needs a" in on_disk["c"]["error"]
    assert on_disk["d"]["status"] == "ok" and 0 < on_disk["d"]["timeout_given"] <= 60
    check.deadline = 0   # spent
    check.step("e", lambda t: {"x": 1})
    assert check.report["steps"]["e"] == {"status": "skipped", "error": "the global budget is spent"}


def test_a_step_process_past_its_timeout_is_killed(tmp_path):
    with pytest.raises(gpu_check.StepFailed, match="timed out"):
        gpu_check.run("sleeper", [sys.executable, "-c", "import time; print('started', flush=True); time.sleep(60)"],
                      tmp_path, timeout=1)
    assert "started" in (tmp_path / "logs" / "sleeper.log").read_text()


def test_wheel_requirements_leave_torch_to_the_target():
    reqs = gpu_wheels.requirements()
    assert "megatron-core==0.16.1" in reqs and not any(r.startswith("torch") for r in reqs)
    assert gpu_wheels.PREINSTALLED.match("nvidia-cudnn-cu13") and not gpu_wheels.PREINSTALLED.match("numpy")
    have = gpu_wheels.read_have(ROOT / "scripts" / "gpu-image-h200.txt")
    assert {"torch", "numpy", "transformers"} <= have and "megatron-core" not in have


def test_install_takes_only_the_wheels_this_python_lacks(tmp_path):
    folder = tmp_path / "wheels"
    folder.mkdir()
    gpu_wheels.stand_in_wheel(folder, "numpy", "0.0.1")           # installed here: kept as it is
    gpu_wheels.stand_in_wheel(folder, "dscoder_probe", "1.0")     # missing: installed into the target
    with zipfile.ZipFile(next(folder.glob("numpy-*"))) as z:
        assert "numpy-0.0.1.dist-info/METADATA" in z.namelist()
    result = gpu_wheels.install(folder, tmp_path / "site")
    assert result["installed"] == ["dscoder_probe-1.0-py3-none-any.whl"]
    assert result["kept_from_this_python"] == ["numpy"]
    assert (tmp_path / "site" / "dscoder_probe-1.0.dist-info").is_dir()
    assert result["unmet"] == []                                   # this venv has every requirement
