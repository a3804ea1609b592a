"""The training loop shared by pretrain, extend-context and instruct.

    DDP(GPTModel) -> megatron optimizer (AdamW) -> get_forward_backward_func()
    (no pipelining at PP=1, 1F1B at PP>1), one optimizer step per global batch.

The same code runs on GPUs (NCCL, bf16, TransformerEngine spec) and on a CPU (gloo, fp32, local
spec, `cpu_compat`). A run on an OUTPUT that holds a checkpoint resumes from its newest one: model,
optimizer, step (= data position) and RNG, so its losses continue the uninterrupted run's exactly.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path

from stages.core.errors import UsageError

from . import checkpoint as ckpt_mod
from .config import TrainConfig
from .data import BatchSource, TokenizerInfo, build_split_datasets, copy_tokenizer, tokenizer_dir
from .distributed import Runtime, init_runtime, shutdown
from .hf_io import import_hf_in_subprocess
from .metrics import MetricsLogger, StepProfiler, peak_memory_mb, peak_tflops_per_device, truncate_jsonl
from .model import build_model, flops_per_token
from .optim import build_optimizer, lr_at, set_lr

FAULT_ENV = "DSCODER_FAULT_KILL_AFTER_STEP"   # tests: SIGKILL this process after that step


def _loss_func(loss_mask, output_tensor):
    """Mean token loss of one micro-batch. `.clone()` the logged copy: the schedule divides the
    returned loss by the number of micro-batches in place."""
    mask = loss_mask.view(-1).float()
    loss = (output_tensor.float().view(-1) * mask).sum() / mask.sum().clamp(min=1)
    return loss, {"lm loss": loss.detach().clone()}


def packed_attention_mask(segment_ids):
    """[b, 1, s, s] bool, True where attention is cut: later tokens, and other packed examples."""
    import torch
    s = segment_ids.shape[-1]
    later = torch.ones(s, s, dtype=torch.bool, device=segment_ids.device).triu(1)
    other = segment_ids[:, None, :, None] != segment_ids[:, None, None, :]
    return other | later


def _forward_step(data_iterator, model):
    batch = next(data_iterator)
    # Packed instruct data: a block-diagonal causal mask (the model is built for an arbitrary mask).
    mask = packed_attention_mask(batch["segment_ids"]) if "segment_ids" in batch else None
    output = model(batch["tokens"], batch["position_ids"], mask, labels=batch["labels"])
    return output, partial(_loss_func, batch["loss_mask"])


class Trainer:
    def __init__(self, cfg: TrainConfig, rt: Runtime, dataset=None):
        """`dataset`: (train, valid or None, note) or a training set alone, each indexable returning tokens/labels/loss_mask/
        position_ids; by default the GPTDataset blends over `cfg.data` split by `cfg.split` or
        validated on `cfg.valid_data` (`data_format` tokens, `data.build_split_datasets`), or the
        instruction records (`data_format` instruct, `instruct_data.build_instruct_datasets`)."""
        import torch
        import torch.distributed as dist
        from megatron.core import parallel_state as ps
        from megatron.core.distributed import (DistributedDataParallel, DistributedDataParallelConfig,
                                               finalize_model_grads)

        self.cfg, self.rt = cfg, rt
        self.output = Path(cfg.output)
        cfg.validate(dist.get_world_size())
        if rt.is_rank0:
            self.output.mkdir(parents=True, exist_ok=True)
            ckpt_mod.clean_incomplete(self.output)
            if not (self.output / "config.yaml").exists():
                cfg.save(self.output / "config.yaml")
        tok_dir = tokenizer_dir(cfg)
        self.tokenizer = TokenizerInfo.load(tok_dir) if tok_dir else None
        if rt.is_rank0 and self.tokenizer:
            if cfg.data_format == "instruct":   # + the chat template it was trained with, eos <|EOT|>
                from .instruct_data import write_chat_tokenizer
                write_chat_tokenizer(self.tokenizer.path, self.output / "tokenizer", cfg.added_tokens)
            else:
                copy_tokenizer(self.tokenizer.path, self.output / "tokenizer")
        dist.barrier()

        m = cfg.model
        self.vocab_size = m.vocab_size
        self.model = build_model(m, self.vocab_size, cfg.seq_length, cfg.tp, cfg.pp, rt, cfg.seed,
                                 packed=cfg.data_format == "instruct" and cfg.pack_sequences,
                                 recompute=cfg.recompute_activations, sequence_parallel=cfg.sequence_parallel)
        ddp_cfg = DistributedDataParallelConfig(grad_reduce_in_fp32=True, overlap_grad_reduce=False,
                                                use_distributed_optimizer=rt.cuda and cfg.distributed_optimizer)
        module = self.model
        if rt.dtype != torch.float32:   # bf16 on GPUs: Megatron-LM's wrapper (fp32 logits for the loss)
            from megatron.core.transformer.module import Float16Module
            module = Float16Module(self.model.config, self.model)
        self.ddp = DistributedDataParallel(config=self.model.config, ddp_config=ddp_cfg, module=module)
        # Without overlap, DDP reduces gradients only when the schedule ends with this hook: unset,
        # every data-parallel replica would train on its own gradients and drift apart.
        self.model.config.finalize_model_grads_func = finalize_model_grads
        self.optimizer = build_optimizer(cfg, [self.ddp], rt)

        dp_size, dp_rank = ps.get_data_parallel_world_size(), ps.get_data_parallel_rank()
        num_valid = cfg.eval_iters * cfg.global_batch if cfg.eval_interval > 0 else 0
        if dataset is None and cfg.data_format == "instruct":
            from .instruct_data import build_instruct_datasets
            dataset = build_instruct_datasets(cfg, self.tokenizer.path, self.tokenizer.eod, num_valid > 0)
        if dataset is None:
            dataset = build_split_datasets(cfg.data, cfg.data_weights, self.tokenizer, cfg.seq_length,
                                           cfg.steps * cfg.global_batch, num_valid, cfg.seed,
                                           self.output / "data_cache", cfg.split, cfg.valid_data)
        # A caller's own dataset (tests, tools) is the training set alone: no validation.
        train_set, valid_set, note = dataset if isinstance(dataset, tuple) else (dataset, None, None)
        if note and rt.is_rank0:
            print(f"validation: {note}", file=sys.stderr, flush=True)
        self.source = BatchSource(train_set, cfg.global_batch, cfg.micro_batch, dp_rank, dp_size, rt.device)
        self.valid_source = (BatchSource(valid_set, cfg.global_batch, cfg.micro_batch, dp_rank, dp_size, rt.device)
                             if valid_set is not None and num_valid else None)
        self.start_step = self._restore()

    # -- start: resume, or initial weights -------------------------------------------------
    def _restore(self) -> int:
        import torch.distributed as dist
        cfg, rt = self.cfg, self.rt
        # the newest usable checkpoint: a damaged newer one is skipped with a warning (checkpoint.resume)
        resumed = ckpt_mod.resume(self.output, self.model, self.optimizer, rt,
                                  (cfg.tp, cfg.pp, dist.get_world_size()))
        if resumed:
            step, path = resumed
            if rt.is_rank0:
                truncate_jsonl(self.output / "metrics.jsonl", step)
                print(f"resumed from {path} (step {step})", file=sys.stderr, flush=True)
            return step
        if rt.is_rank0:
            truncate_jsonl(self.output / "metrics.jsonl", 0)
        if cfg.init_from_checkpoint:
            init = ckpt_mod.resolve_checkpoint(Path(cfg.init_from_checkpoint),
                                               report=ckpt_mod.warn if rt.is_rank0 else None)
            if cfg.init_optimizer:   # continue training: Adam moments and step counts too (any layout)
                ckpt_mod.load_checkpoint(init, self.model, self.optimizer, rt, same_layout=False)
            else:
                ckpt_mod.load_model_weights(init, self.model)
        elif cfg.init_from_hf:
            target = self.output / "init" / "hf-import"
            if rt.is_rank0 and not (target / ckpt_mod.MARKER).exists():
                import_hf_in_subprocess(Path(cfg.init_from_hf), target, cfg)
            dist.barrier()
            ckpt_mod.load_model_weights(target, self.model)
        if cfg.added_tokens:
            self._mean_init_rows(sorted(int(i) for i in cfg.added_tokens.values()), cfg.mean_init_rows)
            if rt.is_rank0:
                print(f"added {', '.join(cfg.added_tokens)} to the tokenizer: embedding and output rows "
                      f"{', '.join(str(i) for i in cfg.added_tokens.values())} start as the mean of rows "
                      f"0..{cfg.mean_init_rows - 1}", file=sys.stderr, flush=True)
        if cfg.init_from_checkpoint or cfg.init_from_hf or cfg.added_tokens:
            # weights changed outside the optimizer: its fp32 main copies (bf16 training) follow
            self.optimizer.reload_model_params()
        return 0

    def _mean_init_rows(self, new_ids: list[int], n_rows: int) -> None:
        """Set the embedding and output-layer rows of `new_ids` to the mean of rows [0, n_rows), on
        every layout: each tensor-parallel rank holds a contiguous slice of the vocabulary, so the
        partial sums are all-reduced over the tensor-parallel group."""
        import torch
        import torch.distributed as dist
        from megatron.core import parallel_state as ps
        tp_rank, group = ps.get_tensor_model_parallel_rank(), ps.get_tensor_model_parallel_group()
        weights = []
        if getattr(self.model, "pre_process", False):
            weights.append(self.model.embedding.word_embeddings.weight)
        if getattr(self.model, "post_process", False):
            weights.append(self.model.output_layer.weight)
        with torch.no_grad():
            for w in weights:
                rows = w.shape[0]
                first = tp_rank * rows
                own = w[:max(0, min(rows, n_rows - first))]
                total = own.double().sum(0) if len(own) else torch.zeros(w.shape[1], dtype=torch.float64,
                                                                         device=w.device)
                dist.all_reduce(total, group=group)
                mean = (total / n_rows).to(w.dtype)
                for i in new_ids:
                    if first <= i < first + rows:
                        w[i - first] = mean

    # -- the loop ----------------------------------------------------------------------------
    def run(self) -> dict:
        import torch
        import torch.distributed as dist
        from megatron.core import parallel_state as ps
        from megatron.core.pipeline_parallel import get_forward_backward_func

        cfg, rt = self.cfg, self.rt
        fb = get_forward_backward_func()
        world = dist.get_world_size()
        tokens_per_step = cfg.global_batch * cfg.seq_length
        fpt = flops_per_token(cfg.model, self.vocab_size, cfg.seq_length)
        peak = cfg.peak_tflops or peak_tflops_per_device(rt.cuda, torch.get_num_threads())
        last_stage = ps.is_pipeline_last_stage()
        n_loss_ranks = ps.get_data_parallel_world_size() * ps.get_tensor_model_parallel_world_size()
        logger = MetricsLogger(self.output, cfg.steps, enabled=rt.is_rank0, label=cfg.stage,
                               wandb_project=cfg.wandb_project, run_config=cfg.to_dict())
        logger.set_start(self.start_step)
        profiler = StepProfiler(rt.cuda, enabled=rt.is_rank0)
        if rt.is_rank0:
            print(f"{cfg.stage}: {rt.device}, {dist.get_backend()}, {str(rt.dtype).replace('torch.', '')}, "
                  f"layer spec {getattr(self.model, 'dscoder_layer_spec', '?')}", file=sys.stderr, flush=True)
        kill_after = int(os.environ.get(FAULT_ENV, "-1"))
        losses = []
        try:
            for step in range(self.start_step, cfg.steps):
                profiler.before(step + 1)
                t0 = time.perf_counter()
                lr = lr_at(step, cfg)
                set_lr(self.optimizer, lr, cfg.weight_decay)
                self.ddp.zero_grad_buffer()
                self.optimizer.zero_grad()
                out = fb(forward_step_func=_forward_step, data_iterator=self.source.step_iterator(step),
                         model=[self.ddp], num_microbatches=self.source.num_microbatches,
                         seq_length=cfg.seq_length, micro_batch_size=cfg.micro_batch, forward_only=False)
                ok, grad_norm, _ = self.optimizer.step()
                loss = torch.zeros(2, dtype=torch.float64, device=rt.device)
                if last_stage:
                    loss[0] = torch.stack([o["lm loss"] for o in out]).double().mean()
                    loss[1] = 0.0 if ok else 1.0
                dist.all_reduce(loss)
                if rt.cuda:
                    torch.cuda.synchronize()
                dt = time.perf_counter() - t0
                rec = {"step": step + 1, "loss": loss[0].item() / n_loss_ranks, "lr": lr,
                       "grad_norm": float(grad_norm) if grad_norm is not None else float("nan"),
                       "tokens_per_s": tokens_per_step / dt, "step_time_s": dt,
                       "tflops_per_device": fpt * tokens_per_step / dt / world / 1e12,
                       "consumed_samples": (step + 1) * cfg.global_batch, "tokens": (step + 1) * tokens_per_step}
                rec["mfu"] = rec["tflops_per_device"] / peak if peak else None
                rec["peak_memory_mb"] = self._peak_memory_mb()
                rec["peak_memory_gib"] = round(rec["peak_memory_mb"] / 1024, 3)
                if loss[1].item() > 0:
                    rec["skipped"] = True
                losses.append(rec["loss"])
                logger.log(rec)
                profiler.after(step + 1)
                done = step + 1
                if self.valid_source is not None and (done % cfg.eval_interval == 0 or done == cfg.steps):
                    logger.log_validation(self.evaluate(done))
                if done % cfg.save_interval == 0 or done == cfg.steps:
                    self.save(done)
                if done == kill_after and rt.is_rank0:
                    os.kill(os.getpid(), signal.SIGKILL)
        finally:
            logger.close()
        return {"start_step": self.start_step, "steps": cfg.steps, "losses": losses,
                "final_loss": losses[-1] if losses else None}

    def _peak_memory_mb(self) -> float:
        """The largest peak over this job's ranks (collective)."""
        import torch
        import torch.distributed as dist
        t = torch.tensor([peak_memory_mb(self.rt.cuda)], dtype=torch.float64, device=self.rt.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return round(t.item(), 1)

    def evaluate(self, step: int) -> dict:
        """Mean loss over `eval_iters` global batches of the validation data: the same batches every
        time (samples [0, eval_iters·B)), so the curve compares like with like. Collective."""
        import math

        import torch
        import torch.distributed as dist
        from megatron.core import parallel_state as ps
        from megatron.core.pipeline_parallel import get_forward_backward_func

        cfg, rt = self.cfg, self.rt
        fb = get_forward_backward_func()
        total = torch.zeros(1, dtype=torch.float64, device=rt.device)
        self.ddp.eval()
        try:
            with torch.no_grad():
                for k in range(cfg.eval_iters):
                    out = fb(forward_step_func=_forward_step, data_iterator=self.valid_source.step_iterator(k),
                             model=[self.ddp], num_microbatches=self.valid_source.num_microbatches,
                             seq_length=cfg.seq_length, micro_batch_size=cfg.micro_batch, forward_only=True)
                    if ps.is_pipeline_last_stage():
                        total[0] += torch.stack([o["lm loss"] for o in out]).double().mean()
        finally:
            self.ddp.train()
        dist.all_reduce(total)
        n_loss_ranks = ps.get_data_parallel_world_size() * ps.get_tensor_model_parallel_world_size()
        val_loss = total.item() / n_loss_ranks / cfg.eval_iters
        return {"step": step, "val_loss": val_loss, "val_ppl": math.exp(min(val_loss, 700.0)),
                "val_tokens": cfg.eval_iters * cfg.global_batch * cfg.seq_length}

    def save(self, step: int) -> Path:
        import torch.distributed as dist
        cfg = self.cfg
        meta = {"format": "dscoder-megatron-1", "stage": cfg.stage, "consumed_samples": step * cfg.global_batch,
                "tp": cfg.tp, "pp": cfg.pp, "world_size": dist.get_world_size(), "seq_length": cfg.seq_length,
                "lr": lr_at(step - 1, cfg), "model": asdict(cfg.model)}
        return ckpt_mod.save_checkpoint(self.output, step, self.model, self.optimizer, meta, self.rt,
                                        cfg.keep_checkpoints)


def train(cfg: TrainConfig, dataset=None) -> dict:
    """Run (or resume) one training job in this process; collective over all ranks."""
    rt = init_runtime(cfg.tp, cfg.pp, cfg.seed, cfg.bf16, cfg.use_transformer_engine)
    try:
        return Trainer(cfg, rt, dataset).run()
    finally:
        shutdown()


def resolve_vocab(cfg: TrainConfig) -> TrainConfig:
    """Fix the embedding size once, from the tokenizer (and an imported model's vocabulary), padded
    to `vocab_pad_multiple` — never to a TP-dependent size, so the checkpoint reshards."""
    from .model import padded_vocab_size
    m = cfg.model
    tok_dir = tokenizer_dir(cfg)
    tok = TokenizerInfo.load(tok_dir) if tok_dir else None
    if m.hf_vocab_size is None:
        if tok is None:
            raise UsageError("no tokenizer to size the vocabulary from")
        m.hf_vocab_size = tok.vocab_size
    needed = max(m.hf_vocab_size, tok.vocab_size if tok else 0)
    if m.vocab_size is None:
        m.vocab_size = padded_vocab_size(needed, m.vocab_pad_multiple)
    elif m.vocab_size < needed:
        raise UsageError(f"vocab_size {m.vocab_size} is smaller than the tokenizer's {needed} tokens")
    return cfg
