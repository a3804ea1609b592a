"""CPU checks of the code that only the GPU path used to run: SDPA attention in the local spec,
checkpoints across precisions (bf16 on a GPU <-> fp32 on a CPU) and RNG states from another device
(one process, `gpu_paths_job.py`), and the device-name -> peak bf16 TFLOP/s table."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stages.train.metrics import GPU_PEAK_TFLOPS, gpu_peak_tflops

JOB = Path(__file__).with_name("gpu_paths_job.py")


@pytest.fixture(scope="module")
def job(tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("gpu-paths")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("DSCODER_LOCAL_ATTENTION", None)
    proc = subprocess.run([sys.executable, str(JOB), str(work)], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-6000:]
    return json.loads((work / "result.json").read_text())


@pytest.mark.parametrize("mask", ["causal", "packed"])
def test_sdpa_attention_gives_the_unfused_logits(job, mask):
    r = job["sdpa"][mask]
    assert r["specs"] == {"unfused": "local-unfused", "sdpa": "local-sdpa"}
    assert r["logit_scale"] > 0.5                 # real logits, not zeros
    assert r["max_abs_diff"] < 1e-5, r


def test_bf16_checkpoint_resumes_in_fp32_from_its_main_weights(job):
    p = job["precision"]
    assert p["bf16_meta"] == {"params_dtype": "bfloat16", "layer_spec": "local-sdpa"}   # as on a GPU
    r = p["fp32_resume"]
    assert "error" not in r, r["error"]           # before: KeyError 'pre_wd_mult'; CUDA RNG states: RuntimeError
    assert r["start_step"] == 2 and r["dtype"] == "torch.float32" and r["layer_spec"] == "local-unfused"
    assert r["weights_vs_bf16_mains"] == 0.0 and r["exp_avg_diff"] == 0.0
    # it trains on (steps 3 and 4) with the CUDA-saved RNG states ignored
    assert len(p["fp32_losses"]) == 2 and all(math.isfinite(x) for x in p["fp32_losses"])


def test_fp32_checkpoint_resumes_in_bf16(job):
    r = job["precision"]["bf16_resume"]
    assert r["start_step"] == 4 and r["dtype"] == "torch.bfloat16"
    assert r["mains_vs_fp32_weights"] == 0.0 and r["exp_avg_diff"] == 0.0
    assert r["model_vs_mains"] == 0.0             # bf16 weights = the fp32 mains rounded
    assert len(job["precision"]["bf16_losses_after"]) == 1


@pytest.mark.parametrize("name, peak", [("NVIDIA H200", 989.0), ("NVIDIA H100 80GB HBM3", 989.0),
                                        ("NVIDIA H100 PCIe", 756.0), ("NVIDIA H100 NVL", 835.0),
                                        ("NVIDIA GH200 480GB", 989.0), ("NVIDIA A100-SXM4-80GB", 312.0),
                                        ("NVIDIA L40S", 362.0), ("NVIDIA L4", 121.0), ("NVIDIA H20", 148.0),
                                        ("Tesla T4", None)])
def test_peak_bf16_tflops_from_the_device_name(name, peak):
    assert gpu_peak_tflops(name) == peak
    assert all(v > 100 for v in GPU_PEAK_TFLOPS.values())
