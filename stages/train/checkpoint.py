"""megatron-core distributed checkpoints (torch_dist): reshardable across TP/PP sizes.

Layout of a training OUTPUT:

    OUTPUT/checkpoints/step-0000500/    one checkpoint: dist-checkpoint files (model + optimizer),
        dscoder.json                    step, consumed samples, parallel layout, model config (written last:
                                        a folder without it is incomplete and ignored)
        rng/rank-00000.pt               each rank's RNG states (restored when the layout is unchanged)
    OUTPUT/config.yaml, OUTPUT/tokenizer/, OUTPUT/metrics.jsonl

A checkpoint is written to a hidden temporary folder and renamed when complete (`atomic_dir`); the
newest `keep` are kept.
Wherever a command takes a CHECKPOINT it accepts OUTPUT (its newest checkpoint) or one checkpoint folder.
"""

from __future__ import annotations

import json
import queue
import random
import re
import shutil
from contextlib import nullcontext
from pathlib import Path
from typing import Optional

from stages.core.atomic import TMP_MARK, atomic_dir

from .config import MissingFile

MARKER = "dscoder.json"
_STEP_DIR = re.compile(r"^step-(\d+)$")


def checkpoint_dir(output: Path, step: int) -> Path:
    return Path(output) / "checkpoints" / f"step-{step:07d}"


def list_checkpoints(output: Path) -> list[tuple[int, Path]]:
    root = Path(output) / "checkpoints"
    if not root.is_dir():
        return []
    found = []
    for d in root.iterdir():
        m = _STEP_DIR.match(d.name)
        if m and (d / MARKER).exists():
            found.append((int(m.group(1)), d))
    return sorted(found)


def resolve_checkpoint(path: Path) -> Path:
    """A checkpoint folder, or a training OUTPUT folder (its newest checkpoint)."""
    path = Path(path)
    if (path / MARKER).exists():
        return path
    found = list_checkpoints(path)
    if found:
        return found[-1][1]
    raise MissingFile(f"{path}: neither a checkpoint folder nor a training output with checkpoints")


def read_meta(ckpt: Path) -> dict:
    return json.loads((Path(ckpt) / MARKER).read_text())


def find_tokenizer_for(ckpt: Path) -> Optional[Path]:
    for cand in (Path(ckpt) / "tokenizer", Path(ckpt).parent.parent / "tokenizer"):
        if (cand / "tokenizer.json").exists():
            return cand
    return None


def _use_in_process_results_queue() -> None:
    """The torch_dist writer collects results through a `multiprocessing` Manager started with
    *spawn*, which re-imports `__main__` (the CLI) in a child and fails; for synchronous saves the
    queue is only used inside this process, so a plain queue does the same job."""
    from megatron.core.dist_checkpointing.strategies import filesystem_async
    if filesystem_async._results_queue is None:
        filesystem_async._results_queue = queue.Queue()


def _barrier():
    import torch.distributed as dist
    if dist.is_initialized():
        dist.barrier()


def _from_rank0(value):
    """Rank 0's `value` on every rank (collective)."""
    import torch.distributed as dist
    if not dist.is_initialized():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _rng_state(cuda: bool) -> dict:
    import numpy as np
    import torch
    from megatron.core.tensor_parallel.random import get_cuda_rng_tracker
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state() if cuda else None, "tracker": get_cuda_rng_tracker().get_states()}


def _set_rng_state(state: dict, cuda: bool) -> None:
    import numpy as np
    import torch
    from megatron.core.tensor_parallel.random import get_cuda_rng_tracker
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if cuda and state.get("cuda") is not None:
        torch.cuda.set_rng_state(state["cuda"])
    get_cuda_rng_tracker().set_states(state["tracker"])


def _model_sharded(model):
    return model.sharded_state_dict(prefix="")


def save_checkpoint(output: Path, step: int, model, optimizer, meta: dict, rt, keep: int) -> Path:
    """Collective: every rank calls it. `model` is the unwrapped GPTModel chunk."""
    import torch
    import torch.distributed as dist
    from megatron.core import dist_checkpointing

    final = checkpoint_dir(output, step)
    # Rank 0 owns the temporary folder (and its fsync + rename); every rank writes its shards into it.
    with atomic_dir(final) if rt.is_rank0 else nullcontext() as tmp:
        tmp = Path(_from_rank0(str(tmp) if tmp is not None else None))
        _use_in_process_results_queue()
        msd = _model_sharded(model)
        state = {"model": msd}
        if optimizer is not None:
            state["optimizer"] = optimizer.sharded_state_dict(msd)
        dist_checkpointing.save(state, str(tmp))
        (tmp / "rng").mkdir(exist_ok=True)
        torch.save(_rng_state(rt.cuda), tmp / "rng" / f"rank-{dist.get_rank():05d}.pt")
        _barrier()
        if rt.is_rank0:
            (tmp / MARKER).write_text(json.dumps(dict(meta, step=step), indent=1))
    if rt.is_rank0:
        for _, old in list_checkpoints(output)[:-keep] if keep > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    _barrier()
    return final


def load_model_weights(ckpt: Path, model) -> None:
    """Model tensors only (any TP/PP layout of the checkpoint); collective."""
    from megatron.core import dist_checkpointing
    loaded = dist_checkpointing.load({"model": _model_sharded(model)}, str(ckpt))
    _load_into(model, loaded["model"])


def _load_into(model, sd) -> None:
    result = model.load_state_dict(sd, strict=False)
    bad = [k for k in list(result.missing_keys) + list(result.unexpected_keys) if not k.endswith("_extra_state")]
    if bad:
        raise RuntimeError(f"checkpoint does not match the model: {bad[:5]}")


def load_checkpoint(ckpt: Path, model, optimizer, rt, same_layout: bool) -> dict:
    """Model, optimizer and (when the parallel layout is unchanged) RNG states; returns the meta."""
    import torch
    import torch.distributed as dist
    from megatron.core import dist_checkpointing

    msd = _model_sharded(model)
    state = {"model": msd, "optimizer": optimizer.sharded_state_dict(msd, is_loading=True)}
    loaded = dist_checkpointing.load(state, str(ckpt))
    _load_into(model, loaded["model"])
    optimizer.load_state_dict(loaded["optimizer"])
    rng_file = Path(ckpt) / "rng" / f"rank-{dist.get_rank():05d}.pt"
    if same_layout and rng_file.exists():
        _set_rng_state(torch.load(rng_file, weights_only=False), rt.cuda)
    return read_meta(ckpt)


def clean_incomplete(output: Path) -> None:
    root = Path(output) / "checkpoints"
    if root.is_dir():
        for d in root.iterdir():
            # a killed writer's temporary folder (`atomic_dir`'s, or an older `step-N.tmp`), or an incomplete one
            if d.is_dir() and (TMP_MARK in d.name or d.name.endswith(".tmp") or not (d / MARKER).exists()):
                shutil.rmtree(d, ignore_errors=True)
