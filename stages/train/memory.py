"""GPU memory per rank for a model config and parallel layout: the estimate behind the memory table
in docs/pretrain.md#memory (`python -m stages.train.memory` prints it; a test checks the page).

Counted from the model config, per rank of the busiest pipeline stage (the first, under 1F1B):

- weights: bf16, 2 bytes a parameter; gradients: fp32 (the trainer reduces them in fp32), 4 bytes;
  optimizer: fp32 main weights + Adam's two moments, 12 bytes, divided by the data-parallel size
  with `--distributed-optimizer`. Parameters of a stage: its layers and the embedding (or the output
  layer, the same size), all divided by TP.
- activations (Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer
  Models", table 2, for a LLaMA layer: RMSNorm, SwiGLU, no dropout, GQA), bf16, per layer and
  micro-batch of b sequences of s tokens:
  * 8·sbh for the two norm inputs and the QKV/fc1 inputs (split over TP only with sequence parallelism),
  * (2·sb(h + 2·g·d) + 2·sbh + 6·sbF) / TP for Q, K, V, the attention output, fc1's [gate; up] and
    fc2's input (g query groups of d channels, F the FFN size),
  * 2·a·s²·b / TP for the softmax of the attention scores (a heads): kept by megatron's local
    attention (`none`), recomputed by `selective`, never stored by TransformerEngine's fused
    (flash) attention, the GPU default;
  * `full` recomputation keeps only each layer's input, 2·sbh (/TP with sequence parallelism),
    plus one layer's activations while it is recomputed.
  Under 1F1B the first stage holds PP micro-batches of L/PP layers: L layers' worth, whatever PP.
- the logits of the last stage: s·b·V/TP in bf16 plus their fp32 copy for the loss (6 bytes).

A layout fits when the estimate stays under `HEADROOM` of the GPU's memory (the rest: the CUDA
context, NCCL buffers, allocator fragmentation). Estimates, not measurements: no GPU was lent to check them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import PRESETS, ModelConfig

GIB = 2**30
HEADROOM = 0.9
GPUS = {"80 GB (A100/H100)": 80e9, "141 GB (H200)": 141e9}
LAYOUTS = [(1, 1), (2, 1), (4, 1), (8, 1), (4, 2), (8, 2), (8, 4)]
DATA_PARALLEL = 8   # the distributed optimizer's shards in the table (more data parallelism: less)


@dataclass
class Estimate:
    weights: float
    grads: float
    optimizer: float
    activations: float
    logits: float

    @property
    def total(self) -> float:
        return self.weights + self.grads + self.optimizer + self.activations + self.logits


def layer_params(m: ModelConfig) -> int:
    h, d, nh, ng = m.hidden_size, m.head_dim, m.num_attention_heads, m.query_groups
    return h * (nh + 2 * ng) * d + nh * d * h + 3 * h * m.ffn_hidden_size + 2 * h


def layer_activation_bytes(m: ModelConfig, s: int, b: int, tp: int, sequence_parallel: bool, recompute: str,
                           fused_attention: bool) -> float:
    """Bytes one layer keeps for the backward pass of one micro-batch (bf16)."""
    h, f, a = m.hidden_size, m.ffn_hidden_size, m.num_attention_heads
    kv = m.query_groups * m.head_dim
    seq_split = tp if sequence_parallel else 1
    if recompute == "full":
        return 2.0 * s * b * h / seq_split
    replicated = 8.0 * s * b * h / seq_split
    split = (2.0 * s * b * (h + 2 * kv) + 2.0 * s * b * h + 6.0 * s * b * f) / tp
    scores = 0.0 if (fused_attention or recompute == "selective") else 2.0 * a * s * s * b / tp
    return replicated + split + scores


def estimate(m: ModelConfig, vocab: int, seq: int, tp: int, pp: int, micro_batch: int = 1,
             sequence_parallel: bool = False, recompute: str = "none", fused_attention: bool = True,
             distributed_optimizer: bool = True, dp: int = DATA_PARALLEL) -> Estimate:
    layers = m.num_layers // pp
    params = (layers * layer_params(m) + vocab * m.hidden_size) / tp
    per_layer = layer_activation_bytes(m, seq, micro_batch, tp, sequence_parallel, recompute, fused_attention)
    act = m.num_layers * per_layer            # 1F1B: pp micro-batches in flight x L/pp layers
    if recompute == "full":                   # the layer being recomputed holds its activations
        act += layer_activation_bytes(m, seq, micro_batch, tp, sequence_parallel, "none", fused_attention)
    return Estimate(weights=2.0 * params, grads=4.0 * params,
                    optimizer=12.0 * params / (dp if distributed_optimizer else 1), activations=act,
                    logits=6.0 * seq * micro_batch * vocab / tp)


def needs(name: str, seq: int, capacity: float) -> str:
    """The smallest model-parallel layout (TP x PP, then the least recomputation) that fits."""
    m = PRESETS[name].model
    for tp, pp in sorted(LAYOUTS, key=lambda x: (x[0] * x[1], x[1])):
        for recompute in ("none", "selective", "full"):
            e = estimate(m, m.vocab_size, seq, tp, pp, sequence_parallel=tp > 1, recompute=recompute)
            if e.total <= HEADROOM * capacity:
                sp = " --sequence-parallel" if tp > 1 else ""
                rc = f" --recompute-activations {recompute}" if recompute != "none" else ""
                return f"`--tp {tp} --pp {pp}{sp}{rc}` ({e.total / 1e9:.0f} GB)"
    return "does not fit with micro-batch 1 in the layouts tried"


def markdown() -> str:
    """The two tables of docs/pretrain.md#memory."""
    lines = ["| preset | seq | TP | PP | weights + grads + Adam | activations: none (TE fused attention) "
             "| none (local attention) | selective | full | logits |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name in ("6.7b", "33b"):
        m = PRESETS[name].model
        for seq in (4096, 16384):
            for tp, pp in LAYOUTS:
                if name == "6.7b" and tp * pp > 8:
                    continue
                kw = dict(sequence_parallel=tp > 1)
                e = estimate(m, m.vocab_size, seq, tp, pp, **kw)
                acts = [estimate(m, m.vocab_size, seq, tp, pp, recompute=r, fused_attention=fa, **kw).activations
                        for r, fa in (("none", True), ("none", False), ("selective", False), ("full", True))]
                lines.append(f"| {name} | {seq} | {tp} | {pp} | {(e.weights + e.grads + e.optimizer) / 1e9:.1f} | "
                             + " | ".join(f"{a / 1e9:.1f}" for a in acts) + f" | {e.logits / 1e9:.1f} |")
    lines += ["", "| preset | seq | " + " | ".join(GPUS) + " |", "|---|---|" + "---|" * len(GPUS)]
    for name in ("6.7b", "33b"):
        for seq, what in ((4096, "4096 (pretrain)"), (16384, "16384 (extend-context)")):
            lines.append(f"| {name} | {what} | " + " | ".join(needs(name, seq, c) for c in GPUS.values()) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
