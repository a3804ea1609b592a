"""megatron-core distributed checkpoints (torch_dist): reshardable across TP/PP sizes.

Layout of a training OUTPUT:

    OUTPUT/checkpoints/step-0000500/    one checkpoint: dist-checkpoint files (model + optimizer),
        dscoder.json                    step, consumed samples, parallel layout, model config, params
                                        dtype and layer spec (written last: a folder without it is
                                        incomplete and ignored)
        rng/rank-00000.pt               each rank's RNG states (restored when the layout is unchanged)
    OUTPUT/config.yaml, OUTPUT/tokenizer/, OUTPUT/metrics.jsonl

A checkpoint is written to a hidden temporary folder and renamed when complete (`atomic_dir`); the
newest `keep` are kept. A checkpoint written in bf16 on a GPU (megatron's mixed-precision optimizer:
bf16 model weights, fp32 main weights in the optimizer state) resumes in fp32 on a CPU from its fp32
main weights, and an fp32 one resumes in bf16 (`_load_across_precision`); RNG states are restored
only on the kind of device that saved them.
Wherever a command takes a CHECKPOINT it accepts OUTPUT (its newest checkpoint) or one checkpoint folder.

A checkpoint damaged after it was written (a truncated or missing shard, half-written metadata: a
file system that lost the end of a write, a partial copy) is found before it is loaded
(`checkpoint_problem`: metadata, file sizes, the zip directories of the small torch files). A run
resumes from its newest *usable* checkpoint, and OUTPUT given as a CHECKPOINT means the same: each
newer damaged one is skipped with a one-line warning naming it and why (it is left in place; the
resumed run replaces it when it saves that step again). With none usable: a one-line error (exit 1).
"""

from __future__ import annotations

import json
import queue
import random
import re
import shutil
import sys
import zipfile
from contextlib import nullcontext
from pathlib import Path
from typing import Callable, Optional

from stages.core.atomic import TMP_MARK, atomic_dir
from stages.core.errors import DscoderError

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


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def checkpoint_problem(ckpt: Path) -> Optional[str]:
    """Why checkpoint folder `ckpt` cannot be loaded (a file missing, truncated or unreadable), or
    None. Cheap: it reads the metadata and the small torch files' zip directories, and compares each
    shard file's size with the bytes the torch_dist metadata says it holds."""
    ckpt = Path(ckpt)
    try:
        meta = json.loads((ckpt / MARKER).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"no {MARKER}"
    except (ValueError, OSError) as exc:   # JSONDecodeError, UnicodeDecodeError
        return f"{MARKER} is unreadable ({_one_line(exc)})"
    if not isinstance(meta, dict) or not isinstance(meta.get("step"), int) or not isinstance(meta.get("model"), dict):
        return f"{MARKER} lacks its step or model"
    try:
        backend = json.loads((ckpt / "metadata.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "no metadata.json (megatron's)"
    except (ValueError, OSError) as exc:
        return f"metadata.json is unreadable ({_one_line(exc)})"
    if not isinstance(backend, dict):
        return "metadata.json is not a JSON object"
    if backend.get("sharded_backend") == "torch_dist":
        from torch.distributed.checkpoint import FileSystemReader
        if not (ckpt / ".metadata").is_file():
            return "no .metadata (torch_dist's)"
        try:
            md = FileSystemReader(str(ckpt)).read_metadata()
        except Exception as exc:   # a truncated pickle: UnpicklingError, EOFError, ...
            return f".metadata is unreadable ({_one_line(exc)})"
        need: dict[str, int] = {}
        for info in (getattr(md, "storage_data", None) or {}).values():
            need[info.relative_path] = max(need.get(info.relative_path, 0), info.offset + info.length)
        for rel, size in sorted(need.items()):
            f = ckpt / rel
            if not f.is_file():
                return f"{rel} is missing"
            have = f.stat().st_size
            if have < size:
                return f"{rel} is truncated ({have:,} bytes of {size:,})"
    small = [ckpt / "common.pt"] if backend.get("common_backend", "torch") == "torch" else []
    for f in small + sorted((ckpt / "rng").glob("*.pt")):
        if not f.is_file():
            return f"{f.relative_to(ckpt)} is missing"
        try:
            with zipfile.ZipFile(f) as z:
                bad = z.testzip()
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            return f"{f.relative_to(ckpt)} is unreadable ({_one_line(exc)})"
        if bad is not None:
            return f"{f.relative_to(ckpt)} is corrupt ({bad} fails its CRC)"
    return None


def _one_line(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def newest_usable(output: Path, report: Optional[Callable[[str], None]] = warn) -> tuple[int, Path]:
    """(step, folder) of the newest checkpoint of training OUTPUT that `checkpoint_problem` passes,
    each newer damaged one given to `report` (one line: the folder and why); DscoderError
    when it has checkpoints but none usable, MissingFile when it has none."""
    found = list_checkpoints(output)
    if not found:
        raise MissingFile(f"{output}: neither a checkpoint folder nor a training output with checkpoints")
    damaged = []
    for step, path in reversed(found):
        problem = checkpoint_problem(path)
        if problem is None:
            return step, path
        damaged.append((path, problem))
        if report:
            report(f"checkpoint {path} is damaged, skipped: {problem}")
    raise no_usable_checkpoint(output, damaged)


def no_usable_checkpoint(output: Path, damaged: list[tuple[Path, str]]) -> DscoderError:
    listed = "; ".join(f"{path.name}: {problem}" for path, problem in damaged)
    return DscoderError(f"{Path(output) / 'checkpoints'}: no usable checkpoint ({listed}); move the damaged "
                        "folders away to train from the start, or copy intact ones back")


def resolve_checkpoint(path: Path, report: Optional[Callable[[str], None]] = warn) -> Path:
    """A checkpoint folder, or a training OUTPUT folder (its newest usable checkpoint, `newest_usable`).
    A damaged checkpoint folder is a DscoderError naming it and why."""
    path = Path(path)
    if (path / MARKER).exists():
        problem = checkpoint_problem(path)
        if problem is not None:
            raise DscoderError(f"checkpoint {path} is damaged: {problem}")
        return path
    return newest_usable(path, report)[1]


def read_meta(ckpt: Path) -> dict:
    f = Path(ckpt) / MARKER
    try:
        return json.loads(f.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DscoderError(f"{f}: unreadable ({_one_line(exc)}); the checkpoint is damaged") from None


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


def dtype_name(dtype) -> str:
    return str(dtype).replace("torch.", "")


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
            meta = dict(meta, step=step, params_dtype=dtype_name(rt.dtype),
                        layer_spec=getattr(model, "dscoder_layer_spec", None))
            (tmp / MARKER).write_text(json.dumps(meta, indent=1))
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
    """Model, optimizer and (when the parallel layout and the device kind are unchanged) RNG states;
    returns the meta."""
    import torch
    import torch.distributed as dist
    from megatron.core import dist_checkpointing

    meta = read_meta(ckpt)
    msd = _model_sharded(model)
    saved_fp32 = meta.get("params_dtype", "float32") == "float32"   # checkpoints before the field: CPU, fp32
    if saved_fp32 == (rt.dtype == torch.float32):
        state = {"model": msd, "optimizer": optimizer.sharded_state_dict(msd, is_loading=True)}
        loaded = dist_checkpointing.load(state, str(ckpt))
        _load_into(model, loaded["model"])
        optimizer.load_state_dict(loaded["optimizer"])
    else:
        _load_across_precision(ckpt, model, optimizer, msd, to_fp32=not saved_fp32)
    rng_file = Path(ckpt) / "rng" / f"rank-{dist.get_rank():05d}.pt"
    if same_layout and rng_file.exists():
        rng = torch.load(rng_file, weights_only=False)
        # CUDA generator states (16 bytes) cannot seed the CPU generator (and the reverse): a run
        # resumed on the other kind of device keeps its fresh RNG (dropout is 0 in every preset).
        if (rng.get("cuda") is not None) == rt.cuda:
            _set_rng_state(rng, rt.cuda)
    return meta


def _only_optimizer(optimizer):
    inner = getattr(optimizer, "chained_optimizers", [optimizer])
    if len(inner) != 1:
        raise RuntimeError(f"resuming across precisions needs one optimizer, found {len(inner)}")
    return inner[0]


def _load_across_precision(ckpt: Path, model, optimizer, msd, to_fp32: bool) -> None:
    """bf16 checkpoint -> fp32 run: the model takes the fp32 main weights that megatron's
    mixed-precision optimizer saved (`optimizer.state.fp32_param.*`); the Adam state has the same keys.
    fp32 checkpoint -> bf16 run: the saved weights become the fp32 main weights, and the bf16 model
    weights are rounded from them (as the mixed-precision optimizer does after every step)."""
    import dataclasses

    import torch
    from megatron.core import dist_checkpointing
    from megatron.core.dist_checkpointing.mapping import ShardedTensor, ShardedTensorFactory
    from megatron.core.dist_checkpointing.optimizer import (get_param_id_to_sharded_param_map,
                                                            make_sharded_optimizer_tensor)

    inner = _only_optimizer(optimizer)
    if to_fp32:   # FP32Optimizer: its params are the model's
        params = list(inner.get_parameters())
        id_map = get_param_id_to_sharded_param_map(msd, params)
        mains = [torch.empty_like(p, dtype=torch.float32) for p in params]
        groups = [g["params"] for g in inner.optimizer.state_dict()["param_groups"]]
        saved_layout = {"optimizer": inner.sharded_state_dict(msd, is_loading=True),   # the mixed layout
                        "fp32_from_fp16_params": [[make_sharded_optimizer_tensor(id_map[i], mains[i],
                                                                                 prefix="optimizer.state.fp32_param")
                                                   for i in group] for group in groups]}
        loaded = dist_checkpointing.load({"model": msd, "optimizer": saved_layout}, str(ckpt))
        _load_into(model, loaded["model"])
        with torch.no_grad():
            for group, got in zip(groups, loaded["optimizer"]["fp32_from_fp16_params"]):
                for i, main in zip(group, got):
                    params[i].copy_(main)
        inner.load_state_dict(loaded["optimizer"]["optimizer"])
        return
    # Float16OptimizerWithFloat16Params: bf16 model params, fp32 main params
    pairs = [(p, m) for g16, g32 in zip(inner.float16_groups, inner.fp32_from_float16_groups) for p, m in zip(g16, g32)]
    main_of = {id(p): m for p, m in pairs}
    # the model's sharded tensors (a flat dict), loaded into the main params instead
    # (SwiGLU's fc1 is a factory: gate and up are stored apart)
    targets = {k: main_of[id(v.data)] for k, v in msd.items()
               if isinstance(v, (ShardedTensor, ShardedTensorFactory)) and id(v.data) in main_of}
    request = {k: dataclasses.replace(v, data=targets[k], **({"dtype": torch.float32} if isinstance(v, ShardedTensor)
                                                              else {}))
               if k in targets else v for k, v in msd.items()}
    loaded = dist_checkpointing.load({"model": request, "optimizer": inner.sharded_state_dict(msd, is_loading=True)
                                      ["optimizer"]}, str(ckpt))   # the fp32 layout
    if len(targets) != len(pairs):
        raise RuntimeError(f"{len(pairs) - len(targets)} parameters have no checkpoint entry")
    with torch.no_grad():
        for k, main in targets.items():
            main.copy_(loaded["model"][k])
        for p, main in pairs:
            p.copy_(main)
    inner.load_state_dict({"optimizer": loaded["optimizer"], "fp32_from_fp16_params": inner.fp32_from_float16_groups})


def resume(output: Path, model, optimizer, rt, layout: tuple) -> Optional[tuple[int, Path]]:
    """Collective: load OUTPUT's newest usable checkpoint (model, optimizer, and the RNG states when
    `layout` (tp, pp, world size) is the checkpoint's) and return (step, folder); None when OUTPUT
    has no checkpoint. A newer damaged one (`checkpoint_problem` on rank 0, or a load that fails on
    any rank) is skipped with a one-line warning from rank 0; with none usable, every rank raises
    the same DscoderError."""
    damaged = []
    for step, path in reversed(list_checkpoints(output)):
        problem = _from_rank0(checkpoint_problem(path) if rt.is_rank0 else None)
        if problem is None:
            meta = read_meta(path)
            same = (meta.get("tp"), meta.get("pp"), meta.get("world_size")) == tuple(layout)
            problem = _failure_on_any_rank(lambda: load_checkpoint(path, model, optimizer, rt, same_layout=same))
        if problem is None:
            return step, path
        damaged.append((path, problem))
        if rt.is_rank0:
            warn(f"checkpoint {path} is damaged, skipped: {problem}")
    if not damaged:
        return None
    error = no_usable_checkpoint(output, damaged)
    error.every_rank = True   # a spawned rank other than 0 exits without repeating it (launch.py)
    raise error


def _failure_on_any_rank(fn) -> Optional[str]:
    """Run `fn` (collective) on every rank: None when it worked on all, else the first failure as text
    (the same on every rank). What a partial load left in the model is overwritten by the next one."""
    import torch.distributed as dist
    from torch.distributed.checkpoint.api import CheckpointException   # a BaseException
    try:
        fn()
        problem = None
    except (Exception, CheckpointException) as exc:   # EOFError, UnpicklingError, a mismatch, ...
        if isinstance(exc, CheckpointException) and exc.failures:   # {rank: (exception, traceback)}
            exc = next(iter(exc.failures.values()))[0]
        problem = f"loading it failed ({type(exc).__name__}: {_one_line(exc)})"
    if dist.is_initialized() and dist.get_world_size() > 1:
        box = [None] * dist.get_world_size()
        dist.all_gather_object(box, problem)
        problem = next((p for p in box if p), None)
    return problem


def clean_incomplete(output: Path) -> None:
    root = Path(output) / "checkpoints"
    if root.is_dir():
        for d in root.iterdir():
            # a killed writer's temporary folder (`atomic_dir`'s, or an older `step-N.tmp`), or an incomplete one
            if d.is_dir() and (TMP_MARK in d.name or d.name.endswith(".tmp") or not (d / MARKER).exists()):
                shutil.rmtree(d, ignore_errors=True)
