"""Slurm array jobs for data stages: write an sbatch script, submit it, chain a stats job.

No scheduler of our own (docs/slurm.md): every array task runs the very same `dscoder STAGE`
command; the runner reads SLURM_ARRAY_TASK_ID/COUNT and takes every N-th shard, and done-markers
make a resubmitted task redo only what is missing.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from stages.core.errors import DscoderError, UsageError


@dataclass
class SlurmOptions:
    array_size: int = 4
    partition: str | None = None
    time: str | None = None  # e.g. "04:00:00"
    cpus_per_task: int | None = None
    mem: str | None = None  # e.g. "16G"
    job_name: str | None = None
    sbatch_args: list[str] = field(default_factory=list)  # passed through verbatim
    dependency: str | None = None  # e.g. "afterok:1234" to chain stages
    cpu_only: bool = False  # training on CPU nodes (no --gpus-per-node)


def has_option(args: list[str], *flags: str) -> bool:
    """Whether `args` give one of `flags`, as `--flag value`, `--flag=value` or a short form."""
    return any(a.split("=", 1)[0] in flags for a in args)


def dscoder_command() -> list[str]:
    """How the array tasks start dscoder: the same interpreter as this process (shared FS)."""
    return [sys.executable, "-m", "dscoder_cli"]


def array_script(stage_args: list[str], output: Path, opts: SlurmOptions, single: bool = False) -> str:
    """The sbatch script of a stage's array (or, `single`, of one plain job running the command)."""
    stage = stage_args[0]
    logs = output / "_dscoder" / "slurm"
    lines = ["#!/bin/bash", f"#SBATCH --job-name={opts.job_name or 'dscoder-' + stage}"]
    lines += ([f"#SBATCH --output={logs}/%j.out", f"#SBATCH --error={logs}/%j.out"] if single else
              [f"#SBATCH --array=0-{opts.array_size - 1}",
               f"#SBATCH --output={logs}/%A_%a.out", f"#SBATCH --error={logs}/%A_%a.out"])
    if opts.partition:
        lines.append(f"#SBATCH --partition={opts.partition}")
    if opts.time:
        lines.append(f"#SBATCH --time={opts.time}")
    if opts.cpus_per_task:
        lines.append(f"#SBATCH --cpus-per-task={opts.cpus_per_task}")
    if opts.mem:
        lines.append(f"#SBATCH --mem={opts.mem}")
    if opts.dependency:
        lines.append(f"#SBATCH --dependency={opts.dependency}")
    lines += [f"#SBATCH {arg}" for arg in opts.sbatch_args]
    workers = f" --workers {opts.cpus_per_task}" if opts.cpus_per_task and not has_option(stage_args, "--workers", "-w") else ""
    command = shlex.join(dscoder_command() + stage_args)
    lines += ["set -euo pipefail",
              *([] if single else ["# Rank and world size come from SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT."]),
              f"exec {command}{workers}", ""]
    return "\n".join(lines)


@dataclass
class TrainLaunch:
    nodes: int = 1
    gpus_per_node: int = 8


def training_script(stage_args: list[str], output: Path, opts: SlurmOptions, launch: TrainLaunch) -> str:
    """One job of N nodes × G tasks; `srun` starts one rank per GPU, which read SLURM_PROCID etc."""
    logs = output / "_slurm"
    lines = ["#!/bin/bash", f"#SBATCH --job-name={opts.job_name or 'dscoder-' + stage_args[0]}",
             f"#SBATCH --nodes={launch.nodes}", f"#SBATCH --ntasks-per-node={launch.gpus_per_node}",
             f"#SBATCH --output={logs}/%j.out"]
    if launch.gpus_per_node and not opts.cpu_only:
        lines.append(f"#SBATCH --gpus-per-node={launch.gpus_per_node}")
    for flag, value in (("partition", opts.partition), ("time", opts.time), ("cpus-per-task", opts.cpus_per_task),
                        ("mem", opts.mem), ("dependency", opts.dependency)):
        if value:
            lines.append(f"#SBATCH --{flag}={value}")
    lines += [f"#SBATCH {arg}" for arg in opts.sbatch_args]
    lines += ["set -euo pipefail",
              "# Each task is one rank: SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID, master = first node.",
              "# --kill-on-bad-exit: a rank that exits non-zero (e.g. rank 0 refused: OUTPUT is locked by",
              "# another run) stops the others instead of leaving them waiting for it.",
              f"srun --kill-on-bad-exit=1 {shlex.join(dscoder_command() + stage_args)}", ""]
    return "\n".join(lines)


def submit_training(stage_args: list[str], output: Path, opts: SlurmOptions, launch: TrainLaunch,
                    dry_run: bool = False) -> dict:
    logs = output / "_slurm"
    logs.mkdir(parents=True, exist_ok=True)
    script = logs / f"{stage_args[0]}-{time.strftime('%Y%m%d-%H%M%S')}.sbatch"
    script.write_text(training_script(stage_args, output, opts, launch), encoding="utf-8")
    return {"script": str(script), "job": None if dry_run else _sbatch([str(script)])}


def _sbatch(args: list[str]) -> str:
    if shutil.which("sbatch") is None:
        raise DscoderError("sbatch not found: run this on a Slurm login node (or drop --slurm)")
    proc = subprocess.run(["sbatch", "--parsable", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise DscoderError(f"sbatch failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout.strip().split(";")[0]


def submit_stage(stage_args: list[str], output: Path, opts: SlurmOptions, dry_run: bool = False) -> dict:
    """Write and submit the array job and the dependent stats job; returns ids and the script path."""
    if opts.array_size < 1:
        raise UsageError("--array-size must be at least 1")
    if has_option(stage_args, "--rank", "--world-size", "--overwrite"):
        raise UsageError("--rank/--world-size come from the array; --overwrite would let tasks delete "
                         "each other's work (delete OUTPUT first instead)")
    logs = output / "_dscoder" / "slurm"
    logs.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    result = {"script": None, "array_job": None, "stats_job": None}
    if stage_args[0] == "tokenize" and "--train-tokenizer" in stage_args:
        # Train the tokenizer once, in one job; the array waits for it and finds OUTPUT/tokenizer/
        # there, instead of every task training the same tokenizer.
        result["tokenizer_job"] = None
        one = logs / f"tokenize-tokenizer-{stamp}.sbatch"
        one.write_text(array_script([*stage_args, "--tokenizer-only"], output,
                                     replace(opts, job_name=f"{opts.job_name or 'dscoder-tokenize'}-tokenizer"),
                                     single=True),
                       encoding="utf-8")
        result["tokenizer_script"] = str(one)
        if not dry_run:
            result["tokenizer_job"] = _sbatch([str(one)])
            opts = replace(opts, dependency=f"afterok:{result['tokenizer_job']}")
    script = logs / f"{stage_args[0]}-{stamp}.sbatch"
    script.write_text(array_script(stage_args, output, opts), encoding="utf-8")
    result["script"] = str(script)
    if dry_run:
        return result
    array_job = _sbatch([str(script)])
    # The stats job merges every task's done-markers into stats.json / errors.jsonl, whether or not
    # all tasks succeeded (afterany), so `dscoder status` shows what a resubmission has to redo.
    stats_cmd = shlex.join(dscoder_command() + ["status", str(output), "--refresh", "--json"])
    stats_job = _sbatch([f"--dependency=afterany:{array_job}", f"--job-name=dscoder-{stage_args[0]}-stats",
                         f"--output={logs}/%j-stats.out", *(f"--partition={opts.partition}",) * bool(opts.partition),
                         *(f"--time={opts.time}",) * bool(opts.time), *opts.sbatch_args, "--wrap", stats_cmd])
    result.update(array_job=array_job, stats_job=stats_job)
    return result
