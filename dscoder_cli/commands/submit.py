"""`dscoder submit`: run any data stage as a Slurm job array."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from ..app import command
from ..errors import usage_error

DATA_STAGES = ("crawl", "filter", "topo-sort", "dedup", "tokenize")
TRAINING_STAGES = ("pretrain", "extend-context", "instruct")


@command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def submit(
    ctx: typer.Context,
    stage: str = typer.Argument(..., help=f"The stage to run: {', '.join(DATA_STAGES + TRAINING_STAGES)}."),
    input: str = typer.Argument(..., help="The stage's INPUT (SOURCE for crawl, DATA for pretrain, "
                                "CHECKPOINT for extend-context/instruct)."),
    output: Path = typer.Argument(..., help="The stage's OUTPUT folder on the shared filesystem "
                                  "(extend-context/instruct: DATA..., then OUTPUT)."),
    array_size: int = typer.Option(4, min=1, help="Data stages: number of array tasks; each takes every N-th shard."),
    nodes: int = typer.Option(1, min=1, help="Training stages: nodes."),
    gpus_per_node: int = typer.Option(8, min=1, help="Training stages: ranks (GPUs) per node."),
    cpu_only: bool = typer.Option(False, help="Training stages: CPU nodes, no --gpus-per-node."),
    partition: Optional[str] = typer.Option(None, help="Slurm partition."),
    time: Optional[str] = typer.Option(None, "--time", help="Time limit per task, e.g. 04:00:00."),
    cpus_per_task: Optional[int] = typer.Option(None, min=1, help="CPUs per task (also the stage's --workers)."),
    mem: Optional[str] = typer.Option(None, help="Memory per task, e.g. 16G."),
    after: Optional[str] = typer.Option(None, help="Start after this job id succeeds (chain stages)."),
    sbatch_arg: List[str] = typer.Option([], help="Extra `#SBATCH` line, verbatim (repeatable), "
                                         "e.g. --sbatch-arg=--account=lab."),
    dry_run: bool = typer.Option(False, help="Write the script, do not submit."),
) -> None:
    """Submit STAGE INPUT OUTPUT [stage options…] to Slurm.

    Data stages: an sbatch array plus a dependent stats job; a task whose shards failed exits 1, so
    jobs chained with --after (afterok) do not start; resubmitting redoes only the missing shards. Training stages: one job of --nodes × --gpus-per-node ranks
    started by srun. Stage options go after OUTPUT, e.g.
    `dscoder submit filter files/ filtered/ --array-size 64 --rules starcoder`.
    """
    from ..slurm import SlurmOptions, TrainLaunch, submit_stage, submit_training

    if stage not in DATA_STAGES + TRAINING_STAGES:
        usage_error(f"submit runs {', '.join(DATA_STAGES + TRAINING_STAGES)}, not {stage!r}")
    opts = SlurmOptions(array_size=array_size, partition=partition, time=time, cpus_per_task=cpus_per_task,
                        mem=mem, sbatch_args=list(sbatch_arg), dependency=f"afterok:{after}" if after else None,
                        cpu_only=cpu_only)
    # extend-context and instruct take CHECKPOINT DATA... OUTPUT: the positional arguments after the
    # second one belong to them too, and the last positional one is the real OUTPUT.
    extra = list(ctx.args)
    positional = [str(output)]
    while extra and not extra[0].startswith("-"):
        positional.append(extra.pop(0))
    if stage in ("extend-context", "instruct") and len(positional) < 2:
        usage_error(f"submit {stage} CHECKPOINT DATA... OUTPUT")
    # Tasks may start in another folder: hand them absolute paths.
    positional = [str(Path(p).resolve()) for p in positional]
    output = Path(positional[-1])
    if not input.startswith("github:") and Path(input).exists():
        input = str(Path(input).resolve())
    stage_args = [stage, input, *positional, *extra]
    if stage in TRAINING_STAGES:
        launch = TrainLaunch(nodes=nodes, gpus_per_node=gpus_per_node)
        result = submit_training(stage_args, output, opts, launch, dry_run=dry_run)
    else:
        result = submit_stage(stage_args, output, opts, dry_run=dry_run)
    print(json.dumps(result))
