"""Ranks and process groups: under torchrun, under srun, or as one process (`--nproc N` spawns
local processes itself: `launch.py`). Everything else in the package sets up through here.

    torchrun --nproc-per-node 8 -m dscoder_cli pretrain ...      # RANK/WORLD_SIZE/LOCAL_RANK/MASTER_*
    srun --ntasks-per-node 8 dscoder pretrain ...                # SLURM_PROCID/NTASKS/LOCALID/JOB_NODELIST
    dscoder pretrain ... --nproc 2                               # local spawn (CPU tests, one GPU box)
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass


@dataclass
class DistEnv:
    rank: int
    world_size: int
    local_rank: int
    master_addr: str
    master_port: int
    launcher: str   # torchrun | slurm | single


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_slurm_host(nodelist: str) -> str:
    """First host of a Slurm node list (`gpu[01-04,07],cpu1` -> `gpu01`), without `scontrol`."""
    m = re.match(r"([^,\[]+)(\[([^\]]+)\])?", nodelist.strip())
    if not m:
        return nodelist
    prefix, ranges = m.group(1), m.group(3)
    if not ranges:
        return prefix
    return prefix + ranges.split(",")[0].split("-")[0]


def dist_env(environ=os.environ) -> DistEnv:
    if "RANK" in environ and "WORLD_SIZE" in environ:
        return DistEnv(int(environ["RANK"]), int(environ["WORLD_SIZE"]), int(environ.get("LOCAL_RANK", 0)),
                       environ.get("MASTER_ADDR", "127.0.0.1"), int(environ.get("MASTER_PORT", 29500)), "torchrun")
    if "SLURM_PROCID" in environ and "SLURM_NTASKS" in environ and int(environ["SLURM_NTASKS"]) > 1:
        job = int(environ.get("SLURM_JOB_ID", "0") or 0)
        return DistEnv(int(environ["SLURM_PROCID"]), int(environ["SLURM_NTASKS"]),
                       int(environ.get("SLURM_LOCALID", 0)),
                       environ.get("MASTER_ADDR") or first_slurm_host(environ.get("SLURM_JOB_NODELIST", "127.0.0.1")),
                       int(environ.get("MASTER_PORT", 20000 + job % 20000)), "slurm")
    return DistEnv(0, 1, 0, "127.0.0.1", free_port(), "single")


def planned_world_size(nproc: int) -> int:
    """The ranks a run will have: the launcher's (torchrun, srun), or `--nproc` local processes."""
    env = dist_env()
    return env.world_size if env.launcher != "single" else nproc


@dataclass
class Runtime:
    env: DistEnv
    cuda: bool
    use_te: bool
    device: "object"
    dtype: "object"     # params dtype: bf16 on GPUs (when asked), fp32 on a CPU

    @property
    def is_rank0(self) -> bool:
        return self.env.rank == 0


def have_transformer_engine() -> bool:
    try:
        import transformer_engine.pytorch  # noqa: F401
        return True
    except Exception:   # a bare meta package raises RuntimeError, not ImportError
        return False


def init_runtime(tp: int, pp: int, seed: int, bf16: bool = True, use_te: bool = True) -> Runtime:
    """Process group (NCCL on GPUs, gloo on a CPU), megatron's parallel state and RNG."""
    import torch
    import torch.distributed as dist
    from megatron.core import parallel_state, tensor_parallel

    env = dist_env()
    cuda = torch.cuda.is_available()
    if cuda:
        # megatron's advice for tensor-parallel communication overlap (Megatron-LM's launch scripts set it)
        os.environ.setdefault("CUDA_DEVICE_MAX_CONNECTIONS", "1")
        torch.cuda.set_device(env.local_rank)
    else:
        from . import cpu_compat
        cpu_compat.apply()
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", 1)))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo", init_method=f"tcp://{env.master_addr}:{env.master_port}",
                                rank=env.rank, world_size=env.world_size)
    if not parallel_state.model_parallel_is_initialized():
        parallel_state.initialize_model_parallel(tensor_model_parallel_size=tp, pipeline_model_parallel_size=pp)
    tensor_parallel.model_parallel_cuda_manual_seed(seed)
    return Runtime(env=env, cuda=cuda, use_te=cuda and use_te and have_transformer_engine(),
                   device=torch.device("cuda", env.local_rank) if cuda else torch.device("cpu"),
                   dtype=torch.bfloat16 if (cuda and bf16) else torch.float32)


def shutdown() -> None:
    import torch.distributed as dist
    from megatron.core import parallel_state
    if parallel_state.model_parallel_is_initialized():
        parallel_state.destroy_model_parallel()
    if dist.is_initialized():
        dist.destroy_process_group()
