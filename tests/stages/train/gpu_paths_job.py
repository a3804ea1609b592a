"""One process of CPU checks of the code the GPU path runs (test_gpu_paths.py reads its JSON):

- `sdpa`: the local spec with torch SDPA attention gives the unfused DotProductAttention's logits
  (causal, GQA, and the packed block-diagonal mask);
- `precision`: a checkpoint written by a bf16 run with SDPA attention (megatron's mixed-precision
  optimizer, as on a GPU) resumes in fp32 with the unfused attention of a CPU, from the fp32 main
  weights and the Adam state, and an fp32 one resumes in bf16; RNG states saved on CUDA are not fed
  to the CPU generator.

megatron refuses its mixed-precision optimizer for CPU tensors (it checks `param.type()` against the
`torch.cuda.*Tensor` names) but runs it fine: `cuda_type_names()` lets the bf16 runs here build it.

    python tests/stages/train/gpu_paths_job.py WORKDIR   -> WORKDIR/result.json
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
sys.path.insert(0, str(Path(__file__).parent))


@contextlib.contextmanager
def cuda_type_names():
    import torch
    real = torch.Tensor.type
    torch.Tensor.type = lambda self, *a, **k: real(self, *a, **k) if a or k else real(self).replace("torch.", "torch.cuda.")
    try:
        yield
    finally:
        torch.Tensor.type = real


def sdpa_checks(rt, m) -> dict:
    import torch
    from stages.train.model import LOCAL_ATTENTION_ENV, build_model
    from stages.train.trainer import packed_attention_mask

    out = {}
    tokens = torch.randint(0, m.vocab_size, (2, 48), generator=torch.Generator().manual_seed(0))
    pos = torch.arange(48).unsqueeze(0).expand(2, -1)
    segments = torch.tensor([[0] * 20 + [1] * 28, [0] * 48])
    for packed in (False, True):
        logits, specs = {}, {}
        for kind in ("unfused", "sdpa"):
            os.environ[LOCAL_ATTENTION_ENV] = kind
            model = build_model(m, m.vocab_size, 64, 1, 1, rt, seed=7, packed=packed).eval()
            specs[kind] = model.dscoder_layer_spec
            mask = packed_attention_mask(segments) if packed else None
            with torch.no_grad():
                logits[kind] = model(tokens, pos, mask)
        os.environ.pop(LOCAL_ATTENTION_ENV)
        name = "packed" if packed else "causal"
        out[name] = {"max_abs_diff": (logits["sdpa"] - logits["unfused"]).abs().max().item(),
                     "logit_scale": logits["unfused"].abs().max().item(), "specs": specs}
    return out


def named_state(trainer) -> dict:
    """name -> (fp32 weights the optimizer updates, exp_avg) of a trainer's model."""
    names = {id(p): n for n, p in trainer.model.named_parameters()}
    inner = trainer.optimizer.chained_optimizers[0]
    result = {}
    if hasattr(inner, "fp32_from_float16_groups"):
        for g16, g32 in zip(inner.float16_groups, inner.fp32_from_float16_groups):
            for p, main in zip(g16, g32):
                result[names[id(p)]] = (main.detach().clone(), inner.optimizer.state[main]["exp_avg"].clone())
    else:
        for p in inner.get_parameters():
            result[names[id(p)]] = (p.detach().clone(), inner.optimizer.state[p]["exp_avg"].clone())
    return result


def max_diff(a: dict, b: dict, index: int) -> float:
    assert a.keys() == b.keys() and a
    return max((a[k][index].float() - b[k][index].float()).abs().max().item() for k in a)


def precision_checks(rt, m, work: Path) -> dict:
    import torch
    from stages.train.checkpoint import list_checkpoints, read_meta
    from stages.train.config import TrainConfig
    from stages.train.data import build_train_dataset, TokenizerInfo
    from stages.train.model import LOCAL_ATTENTION_ENV
    from stages.train.trainer import Trainer
    from train_testlib import make_token_folder, stdlib_texts

    tokens = make_token_folder(work / "tokens", stdlib_texts()[:6], n_parts=1)
    rt16 = dataclasses.replace(rt, dtype=torch.bfloat16)
    out_dir = work / "run"

    def cfg(steps: int) -> TrainConfig:
        return TrainConfig(data=[str(tokens)], output=str(out_dir), model=m, steps=steps, warmup_steps=1, seq_length=32,
                           global_batch=2, micro_batch=1, lr=3e-3, save_interval=2, keep_checkpoints=5)

    dataset = build_train_dataset([str(tokens)], None, TokenizerInfo.load(tokens / "tokenizer"), 32, 2 * 8, 1234,
                                  work / "cache")
    result = {}
    os.environ[LOCAL_ATTENTION_ENV] = "sdpa"      # the GPU's local spec
    with cuda_type_names():                      # 1. bf16 run, 2 steps -> step-2 checkpoint
        t16 = Trainer(cfg(2), rt16, dataset)
        result["bf16_losses"] = t16.run()["losses"]
        before = named_state(t16)
    os.environ.pop(LOCAL_ATTENTION_ENV)
    ckpt2 = list_checkpoints(out_dir)[-1][1]
    result["bf16_meta"] = {k: read_meta(ckpt2).get(k) for k in ("params_dtype", "layer_spec")}
    rng_file = ckpt2 / "rng" / "rank-00000.pt"    # as a GPU writes it: CUDA generator states
    rng = torch.load(rng_file, weights_only=False)
    rng["cuda"] = torch.zeros(16, dtype=torch.uint8)
    rng["tracker"] = {k: torch.zeros(16, dtype=torch.uint8) for k in rng["tracker"]}
    torch.save(rng, rng_file)
    try:                                          # 2. resumed in fp32
        t32 = Trainer(cfg(4), rt, dataset)
        after = named_state(t32)
        result["fp32_resume"] = {"start_step": t32.start_step, "layer_spec": t32.model.dscoder_layer_spec, "weights_vs_bf16_mains": max_diff(before, after, 0),
                                 "exp_avg_diff": max_diff(before, after, 1),
                                 "dtype": str(next(t32.model.parameters()).dtype)}
        result["fp32_losses"] = t32.run()["losses"]   # steps 3, 4 -> step-4 checkpoint (fp32)
        fp32_end = named_state(t32)
    except Exception as e:
        result["fp32_resume"] = {"error": f"{type(e).__name__}: {e}"}
        return result
    os.environ[LOCAL_ATTENTION_ENV] = "sdpa"
    with cuda_type_names():                       # 3. the fp32 checkpoint resumed in bf16
        t16b = Trainer(cfg(5), rt16, dataset)
        again = named_state(t16b)
        model_vs_mains = max((p.float() - again[n][0].to(p.dtype).float()).abs().max().item()
                             for n, p in t16b.model.named_parameters())
        result["bf16_resume"] = {"start_step": t16b.start_step, "mains_vs_fp32_weights": max_diff(fp32_end, again, 0),
                                 "exp_avg_diff": max_diff(fp32_end, again, 1), "model_vs_mains": model_vs_mains,
                                 "dtype": str(next(t16b.model.parameters()).dtype)}
        result["bf16_losses_after"] = t16b.run()["losses"]
    os.environ.pop(LOCAL_ATTENTION_ENV)
    return result


def main(work: Path) -> None:
    import torch
    from stages.train.config import ModelConfig
    from stages.train.distributed import init_runtime, shutdown

    torch.set_num_threads(1)
    m = ModelConfig(num_layers=2, hidden_size=64, num_attention_heads=4, num_query_groups=2, ffn_hidden_size=128,
                    vocab_size=512, max_position_embeddings=512, init_method_std=0.05)
    rt = init_runtime(1, 1, 1234, bf16=False, use_te=False)
    result = {}
    try:
        result["sdpa"] = sdpa_checks(rt, m)
        result["precision"] = precision_checks(rt, m, work)
    finally:
        shutdown()
    (work / "result.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":   # the checkpoint writer's helpers re-import __main__
    main(Path(sys.argv[1]))
