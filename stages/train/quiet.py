"""The third-party warnings a training command hides by default, each with why it is harmless here.

megatron-core 0.16.1 and torch print about fifteen warnings on every start (more on a resume),
none of which asks the user to do anything. They are filtered once at start-up, before megatron is
imported (`install`); `--verbose` (or `DSCODER_VERBOSE=1`, which spawned ranks inherit) shows them
all. Only warnings whose text matches an entry below are hidden: a new or unknown warning still
prints. Our own progress lines go to stderr unchanged.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

VERBOSE_ENV = "DSCODER_VERBOSE"


@dataclass(frozen=True)
class KnownWarning:
    category: type
    message: str        # regex matched at the start of the warning's text
    why: str            # why it is harmless in this project


KNOWN_WARNINGS: tuple[KnownWarning, ...] = (
    KnownWarning(UserWarning, r"Transformer Engine and Apex are not installed\. Falling back to",
                 "megatron's import-time notice that it uses torch's optimizers and multi-tensor helpers; "
                 "that is the tested CPU path, and GPUs use TransformerEngine through the `gpu` extra "
                 "(the run's spec is recorded in its config)"),
    KnownWarning(UserWarning, r"Apex is not installed\. Falling back to Torch Norm",
                 "RMSNorm through torch is what the local layer spec is meant to use"),
    KnownWarning(UserWarning, r"full scope is deprecated\. Use empty cuda_graph_scope",
                 "TransformerConfig warns about its own default `cuda_graph_scope`; no CUDA graphs are used"),
    KnownWarning(UserWarning, r"When using (async grad allreduce|sequence parallelism) it is recommended to set "
                 r"the environment variable CUDA_DEVICE_MAX_CONNECTIONS",
                 "meaningless on a CPU; on GPUs the runtime sets CUDA_DEVICE_MAX_CONNECTIONS=1 itself "
                 "(distributed.init_runtime)"),
    KnownWarning(FutureWarning, r"`torch\.distributed\.(reduce_scatter_tensor|all_gather_into_tensor)` is "
                 r"deprecated",
                 "torch renamed the collectives megatron-core 0.16.1's sequence parallelism calls; the old "
                 "names still work (tested: --sequence-parallel losses equal the run without it)"),
    KnownWarning(FutureWarning, r"`load_state_dict` is deprecated and will be removed",
                 "megatron-core 0.16.1 calls torch.distributed.checkpoint's old name when loading; both "
                 "are pinned, and the checkpoint format does not change"),
    KnownWarning(FutureWarning, r"Please use DTensor instead and we are deprecating ShardedTensor",
                 "megatron-core's distributed checkpoints are made of ShardedTensors by design; pinned, "
                 "tested to load and reshard"),
)


def install(verbose: bool = False) -> None:
    """Hide `KNOWN_WARNINGS` in this process (a no-op with `verbose`); spawned ranks read the choice
    from the environment (`launch.run_job`)."""
    if verbose or os.environ.get(VERBOSE_ENV) == "1":
        os.environ[VERBOSE_ENV] = "1"
        return
    for known in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=known.message, category=known.category)
