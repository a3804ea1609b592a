"""Training throughput: tokens/s and MFU of `dscoder pretrain`.

CPU: the `tiny` preset, one process. GPU (when CUDA is present): the `1.3b` preset at sequence 4096,
bf16 (paper target for this project: >= 40% MFU for 1.3b at seq 4096). Tokens are stdlib sources encoded
with a small byte-level BPE trained here, written in the tokenize stage's `.bin/.idx` format.

    python -m benchmarks.bench_pretrain [--steps N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EOS = "<｜end▁of▁sentence｜>"


def token_folder(out: Path, n_files: int = 200) -> Path:
    import numpy as np
    import torch
    from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder, get_bin_path, get_idx_path
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if (out / "part-00000.idx").exists():
        return out
    texts = [p.read_text(encoding="utf-8", errors="replace")
             for p in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))[:n_files]]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=4000,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.add_special_tokens([EOS])
    (out / "tokenizer").mkdir(parents=True, exist_ok=True)
    tok.save(str(out / "tokenizer" / "tokenizer.json"))
    (out / "tokenizer" / "tokenizer_config.json").write_text(json.dumps({"eos_token": EOS}))
    eos = tok.token_to_id(EOS)
    b = IndexedDatasetBuilder(get_bin_path(str(out / "part-00000")), dtype=np.uint16)
    for enc in tok.encode_batch(texts):
        b.add_document(torch.tensor(enc.ids + [eos]), [len(enc.ids) + 1])
    b.finalize(get_idx_path(str(out / "part-00000")))
    return out


def bench_pretrain(out: Path, steps: int | None = None) -> dict:
    import torch
    gpu = torch.cuda.is_available()
    tokens = token_folder(out / "pretrain-tokens")
    run_dir = out / "pretrain-run"
    shutil.rmtree(run_dir, ignore_errors=True)
    if gpu:
        steps = steps or 12
        args = ["--model", "1.3b", "--seq-length", "4096", "--global-batch", "8", "--micro-batch", "1"]
    else:
        steps = steps or 20
        args = ["--model", "tiny"]
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    cmd = [sys.executable, "-m", "dscoder_cli", "pretrain", str(tokens), str(run_dir), *args, "--steps", str(steps),
           "--warmup-steps", "2", "--save-interval", str(10**9)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"pretrain failed:\n{proc.stderr[-4000:]}")
    # Training steps only: metrics.jsonl also holds validation records (val_loss, no throughput).
    recs = [r for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines()) if "tokens_per_s" in r]
    steady = recs[min(3, len(recs) - 1):]        # skip start-up steps
    mfu = [r["mfu"] for r in steady if r.get("mfu")]
    return {"device": torch.cuda.get_device_name() if gpu else "cpu (1 thread)", "model": args[1],
            "seq_length": steady[0]["tokens"] // steady[0]["consumed_samples"],
            "tokens_per_s": statistics.median(r["tokens_per_s"] for r in steady),
            "tflops_per_device": statistics.median(r["tflops_per_device"] for r in steady),
            "mfu": statistics.median(mfu) if mfu else None, "final_loss": recs[-1]["loss"]}


def main(ctx) -> None:
    r = bench_pretrain(Path(ctx.out))
    mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] else "n/a (unknown peak)"
    print(f"pretrain {r['model']} seq {r['seq_length']} on {r['device']}: {r['tokens_per_s']:,.0f} tokens/s, "
          f"{r['tflops_per_device']:.3f} TFLOP/s per device, MFU {mfu} (final loss {r['final_loss']:.3f})")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "bench-out")
    a = ap.parse_args()
    a.out.mkdir(exist_ok=True)
    r = bench_pretrain(a.out, a.steps)
    print(json.dumps(r, indent=1))
