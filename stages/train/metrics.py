"""Per-step metrics: JSONL (always), a progress line (rich on a terminal, plain otherwise),
TensorBoard event files (`OUTPUT/tensorboard/`; tensorboard comes with the `train` extra) and, when
asked, Weights & Biases. MFU = achieved model FLOP/s / peak FLOP/s of the devices.

metrics.jsonl holds one training row per step (`loss`, `lr`, ...) and, after each validation, a
validation row with the same `step` (`val_loss`, `val_ppl`, `val_tokens`)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Optional

from stages.core.atomic import write_text_atomic
from stages.core.errors import DscoderError

# Dense bf16 peak per GPU (no sparsity), from NVIDIA's data sheets, keyed by a part of
# `torch.cuda.get_device_name()` ("NVIDIA H200", "NVIDIA H100 80GB HBM3", "NVIDIA H100 PCIe"); the
# longest matching key wins, so the PCIe/NVL parts are not taken for SXM ones.
GPU_PEAK_TFLOPS = {"H200": 989.0, "H200 NVL": 835.0, "GH200": 989.0, "H100": 989.0, "H100 PCIe": 756.0,
                   "H100 NVL": 835.0, "H800": 989.0, "H20": 148.0, "A100": 312.0, "A800": 312.0, "A10G": 125.0,
                   "L40S": 362.0, "L40": 181.0, "L4": 121.0, "B200": 2250.0, "GB200": 2500.0}


def cpu_peak_tflops(threads: int) -> float:
    """fp32 peak of `threads` cores: clock × FLOP per cycle (two FMA units × vector width × 2:
    64 with AVX-512, 32 with AVX2). An estimate; `--peak-tflops` or $DSCODER_PEAK_TFLOPS override it."""
    flags, mhz = "", 0.0
    try:
        text = Path("/proc/cpuinfo").read_text()
        for line in text.splitlines():
            if line.startswith("flags") and not flags:
                flags = line
            if line.startswith("cpu MHz") and not mhz:
                mhz = float(line.split(":")[1])
    except OSError:
        pass
    try:
        import psutil
        f = psutil.cpu_freq()
        if f and f.max:
            mhz = max(mhz, f.max)
    except Exception:
        pass
    per_cycle = 64 if "avx512f" in flags else 32 if ("avx2" in flags and "fma" in flags) else 8
    return threads * (mhz or 2000.0) * 1e6 * per_cycle / 1e12


def peak_tflops_per_device(cuda: bool, threads: int = 1) -> Optional[float]:
    env = os.environ.get("DSCODER_PEAK_TFLOPS")
    if env:
        return float(env)
    if cuda:
        import torch
        return gpu_peak_tflops(torch.cuda.get_device_name())
    return cpu_peak_tflops(threads)


def gpu_peak_tflops(device_name: str) -> Optional[float]:
    """Dense bf16 TFLOP/s of a GPU named `device_name`; None for a GPU not in `GPU_PEAK_TFLOPS`."""
    for key in sorted(GPU_PEAK_TFLOPS, key=len, reverse=True):
        if key in device_name:
            return GPU_PEAK_TFLOPS[key]
    return None


# `make gpu-check` (scripts/gpu_check.py) profiles a few steps of a run: "FIRST-LAST:FILE" runs
# torch.profiler over steps FIRST..LAST (1-based) and writes its top kernels to FILE (JSON).
PROFILE_ENV = "DSCODER_PROFILE_STEPS"


class StepProfiler:
    """torch.profiler over the steps `PROFILE_ENV` names, on rank 0; does nothing when it is unset."""

    def __init__(self, cuda: bool, enabled: bool, environ=os.environ):
        self.spec, self.cuda, self.prof = None, cuda, None
        raw = environ.get(PROFILE_ENV)
        if enabled and raw:
            steps, _, path = raw.partition(":")
            first, _, last = steps.partition("-")
            self.spec = (int(first), int(last or first), Path(path))

    def before(self, step: int) -> None:
        if self.spec and step == self.spec[0]:
            from torch.profiler import ProfilerActivity, profile
            activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if self.cuda else [])
            self.prof = profile(activities=activities)
            self.prof.__enter__()

    def after(self, step: int) -> None:
        if self.prof is None or step != self.spec[1]:
            return
        if self.cuda:
            import torch
            torch.cuda.synchronize()
        self.prof.__exit__(None, None, None)
        write_text_atomic(self.spec[2], json.dumps(top_kernels(self.prof, self.cuda), indent=1))
        self.prof = None


def top_kernels(prof, cuda: bool, limit: int = 25) -> dict:
    """The operators/kernels that took the most self time (device time on a GPU) and the profiler's table."""
    def self_time(evt) -> float:
        names = ("self_device_time_total", "self_cuda_time_total") if cuda else ("self_cpu_time_total",)
        return next((float(getattr(evt, n)) for n in names if getattr(evt, n, None) is not None), 0.0)
    events = [e for e in prof.key_averages() if self_time(e) > 0]
    total = sum(self_time(e) for e in events) or 1.0
    events.sort(key=self_time, reverse=True)
    rows = [{"name": e.key, "self_time_ms": self_time(e) / 1e3, "share": self_time(e) / total, "calls": e.count}
            for e in events[:limit]]
    try:
        table = prof.key_averages().table(sort_by="self_device_time_total" if cuda else "self_cpu_time_total",
                                          row_limit=limit)
    except Exception:   # older torch: the CUDA name of the sort key
        table = prof.key_averages().table(sort_by="self_cuda_time_total", row_limit=limit)
    return {"device": "cuda" if cuda else "cpu", "total_self_time_ms": total / 1e3, "top": rows, "table": table}


def truncate_jsonl(path: Path, last_step: int) -> None:
    """On resume: drop records after the checkpoint's step (a killed run may have logged more).

    A torn last line (its writer killed mid-line) is cut off with a warning naming the file and the
    line; a line that is not a JSON object anywhere else is damage no writer of ours leaves: a
    `DscoderError` naming the file and the line (nothing is rewritten)."""
    path = Path(path)
    if not path.exists():
        return
    lines = path.read_bytes().split(b"\n")
    while lines and not lines[-1].strip():
        lines.pop()
    keep = []
    for n, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
            if not isinstance(rec, dict):
                raise ValueError(f"a JSON {type(rec).__name__}, not an object")
            if isinstance(rec.get("step", 0), bool) or not isinstance(rec.get("step", 0), (int, float)):
                raise ValueError(f"step {rec['step']!r} is not a number")
        except ValueError as exc:   # JSONDecodeError, UnicodeDecodeError
            if n == len(lines):
                print(f"warning: {path}:{n}: torn last line (a killed writer) cut off", file=sys.stderr, flush=True)
                break
            why = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            raise DscoderError(f"{path}:{n}: not a metrics record ({why}); delete or repair that line, then run "
                               "again") from None
        if rec.get("step", 0) <= last_step:
            keep.append(raw.decode("utf-8").rstrip("\r"))
    write_text_atomic(path, "".join(line + "\n" for line in keep))


def read_metrics(path: Path) -> tuple[list[dict], list[dict]]:
    """(training rows, validation rows) of a metrics.jsonl (a torn last line is skipped)."""
    train, valid = [], []
    if not Path(path).exists():
        return train, valid
    for line in Path(path).read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            (valid if "val_loss" in rec else train).append(rec)
    return train, valid


def peak_memory_mb(cuda: bool) -> float:
    """Peak memory of this process so far: the CUDA allocator's peak on a GPU, else the peak
    resident set size (what bounds a CPU run)."""
    if cuda:
        import torch
        return torch.cuda.max_memory_allocated() / 2**20
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # Linux: kB


def check_wandb(project: Optional[str]) -> None:
    """Refuse `--wandb-project` before training starts when wandb is not installed."""
    import importlib.util
    from stages.core.errors import UsageError
    if project and importlib.util.find_spec("wandb") is None:
        raise UsageError("--wandb-project needs the wandb package (pip install wandb); it is not installed "
                         "by default")


class MetricsLogger:
    def __init__(self, output: Path, total_steps: int, enabled: bool, tensorboard: bool = True,
                 label: str = "pretrain", wandb_project: Optional[str] = None, run_config: Optional[dict] = None):
        self.enabled, self.total = enabled, total_steps
        self.file = self.tb = self.progress = self.wandb = None
        if not enabled:
            return
        self.file = open(Path(output) / "metrics.jsonl", "a")
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:   # installed without the `train` extra's tensorboard: say so, go on
                print("tensorboard is not installed (it comes with dscoder[train]): metrics.jsonl only",
                      file=sys.stderr, flush=True)
            else:
                self.tb = SummaryWriter(str(Path(output) / "tensorboard"))
        if wandb_project:
            self.wandb = _start_wandb(wandb_project, Path(output), label, run_config or {})
        if sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
            self.progress = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(),
                                     TimeRemainingColumn(), TextColumn("{task.fields[info]}"))
            self.task = self.progress.add_task("train", total=total_steps, info="")
            self.progress.start()

    def set_start(self, step: int) -> None:
        if self.progress:
            self.progress.update(self.task, completed=step)

    def log(self, rec: dict) -> None:
        if not self.enabled:
            return
        self.file.write(json.dumps(rec) + "\n")
        self.file.flush()
        self._scalars("train", rec)
        info = (f"loss {rec['loss']:.4f} lr {rec['lr']:.2e} gnorm {rec['grad_norm']:.3f} "
                f"{rec['tokens_per_s']:,.0f} tok/s" + (f" MFU {100 * rec['mfu']:.1f}%" if rec.get("mfu") else ""))
        if self.progress:
            self.progress.update(self.task, completed=rec["step"], info=info)
        else:
            print(f"step {rec['step']}/{self.total} {info}", file=sys.stderr, flush=True)

    def log_validation(self, rec: dict) -> None:
        """A validation row: `step`, `val_loss`, `val_ppl`, `val_tokens`."""
        if not self.enabled:
            return
        self.file.write(json.dumps(rec) + "\n")
        self.file.flush()
        self._scalars("val", {k.removeprefix("val_"): v for k, v in rec.items()})
        line = f"validation at step {rec['step']}: loss {rec['val_loss']:.4f} perplexity {rec['val_ppl']:.2f}"
        if self.progress:
            self.progress.console.print(line, markup=False, highlight=False)
        else:
            print(line, file=sys.stderr, flush=True)

    def _scalars(self, prefix: str, rec: dict) -> None:
        values = {f"{prefix}/{k}": float(v) for k, v in rec.items()
                  if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "step"}
        if self.tb:
            for k, v in values.items():
                self.tb.add_scalar(k, v, rec["step"])
            self.tb.flush()
        if self.wandb:
            self.wandb.log(values, step=rec["step"])

    def close(self) -> None:
        if self.progress:
            self.progress.stop()
        if self.tb:
            self.tb.close()
        if self.wandb:
            self.wandb.finish()
        if self.file:
            self.file.close()


def _start_wandb(project: str, output: Path, label: str, run_config: dict):
    """One W&B run per OUTPUT (a stable id from its path, so a resumed run appends to it). wandb reads
    WANDB_API_KEY, WANDB_MODE (offline honoured), WANDB_ENTITY and WANDB_DIR itself; nothing here reads
    or prints the key."""
    import hashlib

    import wandb
    run_id = "dscoder-" + hashlib.sha256(str(output.resolve()).encode()).hexdigest()[:16]
    return wandb.init(project=project, name=f"{label} {output.name}", id=run_id, resume="allow",
                      dir=os.environ.get("WANDB_DIR", str(output)), config=run_config, job_type=label)
