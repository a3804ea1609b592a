"""`make gpu-check`: dscoder's GPU path measured in one run, written to one JSON report (issue 22;
docs/pretrain.md, "On GPUs"). `scripts/gpu-check.sh` installs the carried wheels and runs this file.

    python scripts/gpu_check.py --work DIR [--report FILE] [--budget SECONDS] [--dry-run]

Five steps, each through the real commands in fresh processes, each recording its status, error,
seconds and numbers, so that one failing step loses nothing else; the report is rewritten after
every step and the whole run stays inside `--budget` (default 480 s):

1. `pretrain`: `dscoder pretrain --model 1.3b`, bf16, sequence 4096 (NCCL, one GPU), WARMUP + TIMED
   + PROFILED steps; tokens/s, TFLOP/s, MFU against the GPU's dense bf16 peak, peak memory, layer
   spec. Checkpoint at step S = WARMUP + TIMED + PROFILED; the run is killed after step S+1
   (`DSCODER_FAULT_KILL_AFTER_STEP`), so no second 19 GB checkpoint is written.
2. `resume`: `gpu`: the same command resumes from step S (and is killed after S+1 again): its loss
   of step S+1 must equal the first run's. `cpu`: the trainer restores that checkpoint on the CPU
   (CUDA hidden: gloo, fp32, the path the CI tests use) and computes the loss of step S+1
   forward-only: one full training step of the 1.3B model at 4096 tokens on a CPU would take
   minutes and ~90 GB. It runs in the background beside steps 3-5.
3. `extend_context`: `dscoder extend-context` from step S at 16,384 tokens, two steps (killed after
   the second): tokens/s and peak memory.
4. `export_hf`: `export_hf` (fp32) of step S, then 32 greedy tokens from megatron and from
   transformers on the device: the tokens must be equal; the largest logit difference is recorded.
5. `eval`: `dscoder eval --backend transformers` on 20 HumanEval tasks on the device, the programs
   run in the CPU sandbox.

When step 1's MFU is below 40%, `profile` holds torch.profiler's top kernels of the PROFILED steps,
and `note` says what limits MFU and what would lift it. `--dry-run`: the same steps at the `tiny`
size on the CPU, seconds each (tests/test_gpu_check.py checks the report).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import sysconfig
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MFU_TARGET = 0.40
PROMPT = "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n"


@dataclass(frozen=True)
class Plan:
    """The sizes of one check."""

    model: str
    seq_length: int
    global_batch: int
    micro_batch: int
    warmup: int            # steps before the timed ones (not the LR warm-up)
    timed: int
    profiled: int
    lr_warmup: int
    extend_seq: int
    data_files: int        # stdlib sources tokenized for the corpus
    vocab: int             # base BPE vocabulary
    eval_tasks: int
    eval_new_tokens: int | None   # None: the HumanEval protocol's 500
    greedy_tokens: int
    budget: float

    @property
    def checkpoint_step(self) -> int:
        return self.warmup + self.timed + self.profiled


GPU_PLAN = Plan(model="1.3b", seq_length=4096, global_batch=4, micro_batch=2, warmup=3, timed=20, profiled=2,
                lr_warmup=10, extend_seq=16384, data_files=300, vocab=4000, eval_tasks=20, eval_new_tokens=None,
                greedy_tokens=32, budget=480)
DRY_PLAN = Plan(model="tiny", seq_length=128, global_batch=4, micro_batch=2, warmup=1, timed=3, profiled=1,
                lr_warmup=2, extend_seq=256, data_files=40, vocab=600, eval_tasks=20, eval_new_tokens=32,
                greedy_tokens=32, budget=400)


class StepFailed(Exception):
    def __init__(self, message: str, **partial):
        super().__init__(message)
        self.partial = partial


# ----------------------------------------------------------------------------- processes
def run(name: str, args: list[str], work: Path, timeout: float, env_extra: dict | None = None) -> tuple[int, str]:
    """A fresh process in its own session; its output goes to WORK/logs/NAME.log. Returns the exit
    code (negative: killed by that signal) and the log's tail. A process past `timeout` is killed."""
    log = work / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1", **(env_extra or {}))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [env.get("PYTHONPATH"), str(ROOT)]))
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    with open(log, "w") as out:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = proc.wait(timeout=max(1.0, timeout))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise StepFailed(f"timed out after {timeout:.0f} s (log: {log})", log_tail=tail(log))
    return code, tail(log)


def tail(path: Path, chars: int = 3000) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return text[-chars:]


def dscoder(*args) -> list[str]:
    return [sys.executable, "-m", "dscoder_cli", *map(str, args)]


def metrics(output: Path) -> list[dict]:
    path = output / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def checkpoint_meta(output: Path, step: int) -> dict:
    path = output / "checkpoints" / f"step-{step:07d}" / "dscoder.json"
    if not path.exists():
        raise StepFailed(f"no checkpoint of step {step} in {output}")
    return json.loads(path.read_text())


# ----------------------------------------------------------------------------- the report
class Check:
    def __init__(self, work: Path, report: Path, plan: Plan, dry_run: bool, budget: float, device: str):
        self.work, self.report_path, self.plan, self.dry_run, self.device = work, report, plan, dry_run, device
        self.t0 = time.monotonic()
        self.deadline = self.t0 + budget
        self.lock = threading.Lock()
        self.report = {"dscoder_gpu_check": 1, "dry_run": dry_run, "device": device, "budget_s": budget,
                       "plan": dataclasses.asdict(plan), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                       "status": "running", "steps": {}}
        self.tokens = self.work / "tokens"
        self.run_dir = self.work / "pretrain"

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def write(self) -> None:
        with self.lock:
            self.report["seconds"] = round(time.monotonic() - self.t0, 1)
            tmp = self.report_path.with_name(self.report_path.name + ".tmp")
            tmp.write_text(json.dumps(self.report, indent=1, default=str))
            tmp.replace(self.report_path)

    def record(self, name: str, entry: dict, parent: str | None = None) -> None:
        with self.lock:
            if parent:
                self.report["steps"].setdefault(parent, {})[name] = entry
            else:
                self.report["steps"][name] = entry
        self.write()

    def status(self, name: str, parent: str | None = None) -> str | None:
        node = self.report["steps"].get(parent, {}) if parent else self.report["steps"]
        return (node.get(name) or {}).get("status")

    def step(self, name: str, fn, needs=(), cap: float = 600.0, parent: str | None = None) -> dict:
        """Run `fn(timeout)`; record status (ok / failed / skipped), error, seconds and its numbers."""
        entry = {"status": "running"}
        missing = [n for n in needs if self.status(*n.split(".")[::-1]) != "ok"]
        if missing:
            entry = {"status": "skipped", "error": f"needs {', '.join(missing)}"}
        elif self.remaining() < 5:
            entry = {"status": "skipped", "error": "the global budget is spent"}
        if entry["status"] == "skipped":
            self.record(name, entry, parent)
            return entry
        self.record(name, entry, parent)
        t0 = time.monotonic()
        try:
            entry = {"status": "ok", **fn(min(cap, self.remaining() - 3))}
        except StepFailed as e:
            entry = {"status": "failed", "error": str(e), **e.partial}
        except Exception as e:   # a bug in the check itself: still a report
            entry = {"status": "failed", "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-3000:]}
        entry["seconds"] = round(time.monotonic() - t0, 1)
        self.record(name, entry, parent)
        return entry

    # -- set-up -----------------------------------------------------------------------------
    def environment(self, install_report: Path | None) -> dict:
        import importlib.metadata as md
        import platform

        import torch

        from stages.train.distributed import have_transformer_engine
        from stages.train.metrics import gpu_peak_tflops

        def version(name):
            try:
                return md.version(name)
            except md.PackageNotFoundError:
                return None
        env = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
               "cuda_available": torch.cuda.is_available(), "cpus": os.cpu_count(),
               "megatron_core": version("megatron-core"), "transformers": version("transformers"),
               "transformer_engine": version("transformer-engine") or version("transformer_engine"),
               "transformer_engine_imports": have_transformer_engine()}
        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            env.update(device_name=torch.cuda.get_device_name(0), capability=f"{props.major}.{props.minor}",
                       memory_gib=round(props.total_memory / 2**30, 1),
                       peak_bf16_tflops=gpu_peak_tflops(torch.cuda.get_device_name(0)),
                       matmul_bf16_tflops_measured=matmul_tflops())
        if install_report and install_report.exists():
            env["install"] = json.loads(install_report.read_text())
        return env

    def make_tokens(self, timeout: float) -> dict:
        """A `dscoder tokenize`-style folder: DeepSeek-Coder's tokenizer layout (the tokenize stage's
        BPE with the released added tokens) trained on stdlib sources, `.bin/.idx` + `tokenizer/`."""
        import numpy as np

        from stages.tokenize.indexed import IndexedDatasetWriter, token_dtype
        from stages.tokenize.tokenizer import EOS, save_hf, train_bpe

        files = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))[: self.plan.data_files]
        texts = [p.read_text(encoding="utf-8", errors="replace") for p in files]
        tok = train_bpe(texts, self.plan.vocab)
        (self.tokens / "tokenizer").mkdir(parents=True, exist_ok=True)
        save_hf(tok, self.tokens / "tokenizer")
        eos = tok.token_to_id(EOS)
        docs = [enc.ids + [eos] for enc in tok.encode_batch(texts)]
        with IndexedDatasetWriter(self.tokens / "part-00000.bin", self.tokens / "part-00000.idx",
                                  token_dtype(tok.get_vocab_size())) as w:
            w.add_documents(np.concatenate([np.asarray(d) for d in docs]), np.asarray([len(d) for d in docs]))
            w.finalize()
        return {"files": len(files), "documents": len(docs), "tokens": int(sum(map(len, docs))),
                "vocab": tok.get_vocab_size()}

    # -- 1. pretrain ------------------------------------------------------------------------
    def pretrain_args(self) -> list[str]:
        p = self.plan
        return dscoder("pretrain", self.tokens, self.run_dir, "--model", p.model, "--seq-length", p.seq_length,
                       "--global-batch", p.global_batch, "--micro-batch", p.micro_batch,
                       "--steps", p.checkpoint_step + 2, "--warmup-steps", p.lr_warmup,
                       "--save-interval", p.checkpoint_step, "--keep-checkpoints", 1)

    def pretrain(self, timeout: float) -> dict:
        p, s = self.plan, self.plan.checkpoint_step
        profile = self.work / "profile.json"
        env = {"DSCODER_FAULT_KILL_AFTER_STEP": str(s + 1), "OMP_NUM_THREADS": self.threads(),
               "DSCODER_PROFILE_STEPS": f"{p.warmup + p.timed + 1}-{s}:{profile}"}
        code, log = run("pretrain", self.pretrain_args(), self.work, timeout, env)
        recs = metrics(self.run_dir)
        if code != -signal.SIGKILL or len(recs) != s + 1:
            raise StepFailed(f"exit {code} after {len(recs)} steps (expected the planned kill after step {s + 1})",
                             log_tail=log)
        timed = [r for r in recs if p.warmup < r["step"] <= p.warmup + p.timed]
        runtime = re.search(r"^pretrain: (.*)$", tail(self.work / "logs" / "pretrain.log", 10**6), re.M)
        meta = checkpoint_meta(self.run_dir, s)
        mfu = [r["mfu"] for r in timed if r.get("mfu") is not None]
        result = {"model": p.model, "seq_length": p.seq_length, "global_batch": p.global_batch,
                  "micro_batch": p.micro_batch, "timed_steps": len(timed), "warmup_steps": p.warmup,
                  "tokens_per_s": statistics.median(r["tokens_per_s"] for r in timed),
                  "step_time_s": statistics.median(r["step_time_s"] for r in timed),
                  "tflops_per_device": statistics.median(r["tflops_per_device"] for r in timed),
                  "mfu": statistics.median(mfu) if mfu else None,
                  "peak_memory_gib": max(r["peak_memory_gib"] for r in recs),
                  "layer_spec": meta.get("layer_spec"), "params_dtype": meta.get("params_dtype"),
                  "runtime": runtime.group(1) if runtime else None,   # device, process group, dtype, spec
                  "losses": [round(r["loss"], 5) for r in recs], "checkpoint_step": s,
                  "loss_after_checkpoint": recs[s]["loss"]}
        if profile.exists():
            self.profile = json.loads(profile.read_text())
        return result

    # -- 2. resume --------------------------------------------------------------------------
    def resume_gpu(self, timeout: float) -> dict:
        s = self.plan.checkpoint_step
        before = self.report["steps"]["pretrain"]["loss_after_checkpoint"]
        env = {"DSCODER_FAULT_KILL_AFTER_STEP": str(s + 1), "OMP_NUM_THREADS": self.threads()}
        code, log = run("resume-gpu", self.pretrain_args(), self.work, timeout, env)
        recs = metrics(self.run_dir)
        resumed = f"step-{s:07d}" in log and "resumed from" in log
        if code != -signal.SIGKILL or len(recs) != s + 1 or not resumed:
            raise StepFailed(f"exit {code}, {len(recs)} steps, resumed from step {s}: {resumed}", log_tail=log)
        after = recs[s]["loss"]
        result = {"device": self.device, "from_step": s, "loss_before": before, "loss_resumed": after,
                  "abs_diff": abs(after - before), "exact": after == before}
        if abs(after - before) > 1e-3 * abs(before):
            raise StepFailed(f"resumed loss {after} != {before}", **result)
        return result

    def resume_cpu(self, timeout: float) -> dict:
        s = self.plan.checkpoint_step
        before = self.report["steps"]["pretrain"]["loss_after_checkpoint"]
        result_file = self.work / "resume-cpu.json"
        args = [sys.executable, str(Path(__file__).resolve()), "cpu-resume", "--output", str(self.run_dir),
                "--scratch", str(self.work / "resume-cpu"), "--step", str(s), "--result", str(result_file)]
        code, log = run("resume-cpu", args, self.work, timeout, {"CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS":
                                                                 str(max(1, (os.cpu_count() or 2) - 4)
                                                                     if self.device == "cuda" else 1)})
        if code != 0 or not result_file.exists():
            raise StepFailed(f"exit {code}", log_tail=log)
        r = json.loads(result_file.read_text())
        # GPU: the same weights, bf16 forward there and fp32 here; dry run: the same computation
        tol = 1e-6 if self.device == "cpu" else 2e-2
        result = {**r, "loss_on_device": before, "abs_diff": abs(r["loss"] - before), "relative_tolerance": tol}
        if r["start_step"] != s or abs(r["loss"] - before) > tol * abs(before):
            raise StepFailed(f"CPU loss of step {s + 1} is {r['loss']}, the device's {before}", **result)
        return result

    # -- 3. extend-context ------------------------------------------------------------------
    def extend_context(self, timeout: float) -> dict:
        p = self.plan
        out = self.work / "extend"
        args = dscoder("extend-context", self.run_dir, self.tokens, out, "--seq-length", p.extend_seq,
                       "--global-batch", 1, "--micro-batch", 1, "--steps", 3, "--save-interval", 1000)
        code, log = run("extend-context", args, self.work, timeout,
                        {"DSCODER_FAULT_KILL_AFTER_STEP": "2", "OMP_NUM_THREADS": self.threads()})
        recs = metrics(out)
        if code != -signal.SIGKILL or len(recs) != 2:
            raise StepFailed(f"exit {code} after {len(recs)} steps (expected the planned kill after step 2)",
                             log_tail=log)
        return {"seq_length": p.extend_seq, "steps": 2, "tokens_per_s": recs[-1]["tokens_per_s"],
                "tokens_per_s_first_step": recs[0]["tokens_per_s"], "mfu": recs[-1].get("mfu"),
                "peak_memory_gib": max(r["peak_memory_gib"] for r in recs), "losses": [r["loss"] for r in recs]}

    # -- 4. export-hf + greedy --------------------------------------------------------------
    def export_hf(self, timeout: float) -> dict:
        result_file = self.work / "greedy.json"
        ckpt = self.run_dir / "checkpoints" / f"step-{self.plan.checkpoint_step:07d}"
        args = [sys.executable, str(Path(__file__).resolve()), "greedy", "--checkpoint", str(ckpt),
                "--hf", str(self.work / "hf"), "--tokens", str(self.plan.greedy_tokens), "--device", self.device,
                "--result", str(result_file)]
        code, log = run("export-hf", args, self.work, timeout, {"OMP_NUM_THREADS": self.threads()})
        if code != 0 or not result_file.exists():
            raise StepFailed(f"exit {code}", log_tail=log)
        r = json.loads(result_file.read_text())
        if not r["equal"]:
            raise StepFailed(f"greedy tokens differ from position {r['first_difference']}", **r)
        return r

    # -- 5. eval ----------------------------------------------------------------------------
    def eval(self, timeout: float) -> dict:
        p = self.plan
        args = dscoder("eval", self.work / "eval", "--model", self.work / "hf", "--benchmarks", "humaneval",
                       "--limit", p.eval_tasks, "--backend", "transformers", "--device", self.device,
                       "--batch-size", p.eval_tasks, "--json",
                       *(["--max-new-tokens", p.eval_new_tokens] if p.eval_new_tokens else []))
        code, log = run("eval", args, self.work, timeout, {"OMP_NUM_THREADS": self.threads()})
        summary_file = self.work / "eval" / "summary.json"
        if code != 0 or not summary_file.exists():
            raise StepFailed(f"exit {code}", log_tail=log)
        b = json.loads(summary_file.read_text())["benchmarks"]["humaneval"]
        result = {"device": self.device, "tasks": b["tasks"], "generated": b["generated"], "executed": b["executed"],
                  "statuses": b["statuses"], "pass@1": b.get("pass@1"),
                  "max_new_tokens": p.eval_new_tokens or 500}
        if b["generated"] != p.eval_tasks or b["executed"] != p.eval_tasks:
            raise StepFailed("not every task was generated and executed", **result)
        return result

    def threads(self) -> str:
        return "1" if self.device == "cpu" else "4"

    # -- the whole check --------------------------------------------------------------------
    def run_all(self, install_report: Path | None) -> dict:
        self.profile = None
        self.step("environment", lambda t: self.environment(install_report), cap=120)
        self.step("data", self.make_tokens, cap=180)
        self.step("pretrain", self.pretrain, needs=("data",), cap=240)
        self.step("gpu", self.resume_gpu, needs=("pretrain",), cap=150, parent="resume")
        # The CPU leg needs only the checkpoint: it runs beside steps 3-5 (CPU cores vs. the GPU).
        background = threading.Thread(target=self.step, args=("cpu", self.resume_cpu),
                                      kwargs=dict(needs=("pretrain",), cap=300, parent="resume"))
        background.start()
        self.step("extend_context", self.extend_context, needs=("pretrain",), cap=180)
        self.step("export_hf", self.export_hf, needs=("pretrain",), cap=180)
        self.step("eval", self.eval, needs=("export_hf",), cap=180)
        background.join(max(1.0, self.remaining()))
        if background.is_alive():
            self.record("cpu", {"status": "failed", "error": "still running when the budget ended"}, "resume")
        self.finish()
        return self.report

    def finish(self) -> None:
        pre = self.report["steps"].get("pretrain", {})
        mfu = pre.get("mfu")
        # the dry run always keeps it, so that the profiler path is tested
        if self.profile is not None and (mfu is None or mfu < MFU_TARGET or self.dry_run):
            self.report["profile"] = self.profile
        steps = self.report["steps"]
        flat = [v.get("status") for k, v in steps.items() if k != "resume"]
        flat += [v.get("status") for v in steps.get("resume", {}).values()]
        self.report["status"] = "ok" if flat and all(s == "ok" for s in flat) else "failed"
        self.report["note"] = closing_note(self.report)
        self.write()


def closing_note(report: dict) -> str:
    steps = report["steps"]
    pre = steps.get("pretrain", {})
    if pre.get("status") != "ok":
        return f"pretrain did not complete ({pre.get('error', 'not run')}): no throughput figures."
    mfu, spec = pre.get("mfu"), pre.get("layer_spec")
    text = (f"{pre['model']} at sequence {pre['seq_length']}, global batch {pre['global_batch']} x micro-batch "
            f"{pre['micro_batch']}, layer spec {spec}: {pre['tokens_per_s']:,.0f} tokens/s, "
            f"{pre['tflops_per_device']:.1f} TFLOP/s per device, MFU "
            f"{'n/a' if mfu is None else f'{100 * mfu:.1f}%'}, peak memory {pre['peak_memory_gib']:.1f} GiB.")
    if report["dry_run"]:
        return text + " Dry run on the CPU: the figures check the plumbing, not the GPU."
    if mfu is not None and mfu >= MFU_TARGET:
        return text + f" At or above the {100 * MFU_TARGET:.0f}% target."
    top = ", ".join(f"{k['name']} {100 * k['share']:.0f}%" for k in (report.get("profile") or {}).get("top", [])[:5])
    levers = []
    if spec != "te":
        levers.append("TransformerEngine's spec (fused RMSNorm+GEMM, fused RoPE, cuDNN attention, "
                      "gradient-accumulation fusion): it did not import here")
    if spec == "local-unfused":
        levers.append("flash attention through torch SDPA in the local spec ($DSCODER_LOCAL_ATTENTION=sdpa)")
    levers += [f"a larger micro-batch than {pre['micro_batch']} (fewer, larger GEMMs; memory allowed)",
               "sequence packing without padding (the pretrain data are packed already)",
               "fused SwiGLU/bias kernels and torch.compile of the layer, the distributed optimizer across GPUs"]
    return (text + f" Below the {100 * MFU_TARGET:.0f}% target. Top device time: {top or 'no profile'}. "
            "What would lift it: " + "; ".join(levers) + ".")


def matmul_tflops(n: int = 8192, reps: int = 10) -> float:
    """bf16 n×n×n matrix products on the GPU: the ceiling this device reaches in practice."""
    import torch
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    torch.cuda.synchronize()
    return round(2 * n**3 * reps / (time.perf_counter() - t0) / 1e12, 1)


# ----------------------------------------------------------------------------- helper processes
def cpu_resume(output: Path, scratch: Path, step: int, result_file: Path) -> None:
    """Restore `output`'s step-`step` checkpoint through the trainer's own resume (model, optimizer,
    RNG; across precisions when it was written in bf16) on this machine's CPU, and compute the loss
    of the next step forward-only. The checkpoint is linked into `scratch`, `output` is not touched."""
    import torch
    from megatron.core.pipeline_parallel import get_forward_backward_func

    from stages.train.config import TrainConfig
    from stages.train.distributed import init_runtime, shutdown
    from stages.train.trainer import Trainer, _forward_step

    assert not torch.cuda.is_available(), "run with CUDA_VISIBLE_DEVICES="
    cfg = TrainConfig.load(output / "config.yaml")
    cfg.output = str(scratch)
    (scratch / "checkpoints").mkdir(parents=True, exist_ok=True)
    link = scratch / "checkpoints" / f"step-{step:07d}"
    if not link.exists():
        link.symlink_to((output / "checkpoints" / link.name).resolve(), target_is_directory=True)
    t0 = time.perf_counter()
    rt = init_runtime(cfg.tp, cfg.pp, cfg.seed, cfg.bf16, cfg.use_transformer_engine)
    try:
        trainer = Trainer(cfg, rt)
        t1 = time.perf_counter()
        fb = get_forward_backward_func()
        trainer.ddp.eval()
        with torch.no_grad():
            out = fb(forward_step_func=_forward_step, data_iterator=trainer.source.step_iterator(step),
                     model=[trainer.ddp], num_microbatches=trainer.source.num_microbatches,
                     seq_length=cfg.seq_length, micro_batch_size=cfg.micro_batch, forward_only=True)
        loss = torch.stack([o["lm loss"] for o in out]).double().mean().item()
        result = {"start_step": trainer.start_step, "loss": loss, "device": "cpu", "threads": torch.get_num_threads(),
                  "params_dtype": str(next(trainer.model.parameters()).dtype).replace("torch.", ""),
                  "saved_params_dtype": json.loads((link / "dscoder.json").read_text()).get("params_dtype"),
                  "restore_s": round(t1 - t0, 1), "forward_s": round(time.perf_counter() - t1, 1),
                  "mode": "restored by the trainer, next step's loss forward-only"}
    finally:
        shutdown()
    result_file.write_text(json.dumps(result, indent=1))


def greedy(checkpoint: Path, hf: Path, tokens: int, device: str, result_file: Path) -> None:
    """export-hf in fp32, then `tokens` greedy tokens from megatron and from transformers."""
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM

    from stages.train.hf_io import export_hf, megatron_greedy

    t0 = time.perf_counter()
    export_hf(checkpoint, hf, dtype="float32")
    t1 = time.perf_counter()
    prompt = Tokenizer.from_file(str(hf / "tokenizer.json")).encode(PROMPT).ids   # with BOS
    ours, our_logits = megatron_greedy(checkpoint, prompt, tokens)
    if device == "cuda":
        torch.cuda.empty_cache()
    t2 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(str(hf), dtype=torch.float32, attn_implementation="eager")
    model = model.to(device).eval()
    model.generation_config.eos_token_id = None          # exactly `tokens` new tokens, as megatron's loop
    ids = torch.tensor([prompt], device=device)
    with torch.no_grad():
        gen = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=tokens, do_sample=False,
                             pad_token_id=0)
        theirs = gen[0, len(prompt):].tolist()
        their_logits = model(gen[:, :-1]).logits.float().cpu()
    n = min(len(ours), len(theirs))
    first = next((i for i in range(n) if ours[i] != theirs[i]), None if len(ours) == len(theirs) else n)
    same_len = min(our_logits.shape[1], their_logits.shape[1])
    result = {"device": device, "dtype": "float32", "prompt_tokens": len(prompt), "new_tokens": tokens,
              "megatron_tokens": ours, "transformers_tokens": theirs, "equal": ours == theirs,
              "first_difference": first,
              "max_abs_logit_diff": (our_logits[:, :same_len] - their_logits[:, :same_len]).abs().max().item(),
              "hf_folder_mb": round(sum(f.stat().st_size for f in hf.iterdir()) / 2**20, 1),
              "export_s": round(t1 - t0, 1), "megatron_s": round(t2 - t1, 1),
              "transformers_s": round(time.perf_counter() - t2, 1),
              "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32)}
    result_file.write_text(json.dumps(result, indent=1))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd")
    c = sub.add_parser("cpu-resume")
    for name in ("--output", "--scratch", "--result"):
        c.add_argument(name, type=Path, required=True)
    c.add_argument("--step", type=int, required=True)
    g = sub.add_parser("greedy")
    for name in ("--checkpoint", "--hf", "--result"):
        g.add_argument(name, type=Path, required=True)
    g.add_argument("--tokens", type=int, required=True)
    g.add_argument("--device", required=True)
    ap.add_argument("--work", type=Path, default=ROOT / "gpu-check-out")
    ap.add_argument("--report", type=Path, help="default: WORK/gpu-check.json")
    ap.add_argument("--budget", type=float, help="seconds for the whole check (default: 480; dry run 400)")
    ap.add_argument("--dry-run", action="store_true", help="the same steps at tiny size on the CPU")
    ap.add_argument("--install-report", type=Path, help="JSON of gpu_wheels.py install, kept in the report")
    a = ap.parse_args(argv)
    if a.cmd == "cpu-resume":
        cpu_resume(a.output, a.scratch, a.step, a.result)
        return 0
    if a.cmd == "greedy":
        greedy(a.checkpoint, a.hf, a.tokens, a.device, a.result)
        return 0

    import torch
    plan = DRY_PLAN if a.dry_run else GPU_PLAN
    device = "cpu" if a.dry_run else "cuda"
    if not a.dry_run and not torch.cuda.is_available():
        print("gpu-check: no CUDA device here (use --dry-run for the CPU rehearsal)", file=sys.stderr)
        return 2
    if a.work.exists():
        shutil.rmtree(a.work)
    a.work.mkdir(parents=True)
    report = a.report or a.work / "gpu-check.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    check = Check(a.work, report, plan, a.dry_run, a.budget or plan.budget, device)
    result = check.run_all(a.install_report)
    print(json.dumps({"report": str(report), "status": result["status"], "seconds": result["seconds"],
                      "note": result["note"]}, indent=1))
    return 0 if result["status"] == "ok" else 1


if __name__ == "__main__":   # the checkpoint writer's helpers re-import __main__
    sys.exit(main())
