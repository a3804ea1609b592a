"""Options every training command shares (pretrain, extend-context, instruct): one definition each."""

from __future__ import annotations

import typer

KEEP_CHECKPOINTS = typer.Option(3, min=1, help="Keep the newest N checkpoints.")
TP = typer.Option(1, "--tp", min=1, help="Tensor-parallel size.")
PP = typer.Option(1, "--pp", min=1, help="Pipeline-parallel size (1F1B schedule).")
NPROC = typer.Option(1, "--nproc", min=1, help="Spawn N local processes (no torchrun needed); "
                     "under torchrun/srun the launcher's ranks are used instead.")
FP32 = typer.Option(False, "--fp32", help="Train in fp32 on GPUs too (CPUs always use fp32).")
NO_TE = typer.Option(False, "--no-te", help="Use megatron's local layer spec even where TransformerEngine imports.")
DISTRIBUTED_OPTIMIZER = typer.Option(False, help="Shard optimizer state over data-parallel ranks (GPUs).")
PEAK_TFLOPS = typer.Option(None, help="Peak TFLOP/s per device for MFU [default: detected].")
OVERWRITE = typer.Option(False, "--overwrite", help="Delete OUTPUT and start over.")
JSON_OUT = typer.Option(False, "--json", help="Print the summary as JSON on stdout.")
