"""One megatron-core trainer for pretrain, extend-context and instruct (DESIGN.md section 6).

Components, each one job (torchtitan's layout):

- `config`     model presets (paper Table 2) and the training config, YAML in and out
- `cpu_compat` the CUDA redirections megatron-core needs on a CPU (a no-op with CUDA)
- `launch`     ranks from torchrun / srun / a single process; `--nproc` local spawning
- `model`      `TransformerConfig` + `GPTModel` for a preset; FLOPs per token
- `data`       tokenizer folder, `GPTDataset` blends over `.bin/.idx` folders, resumable batches
- `optim`      the paper's LR schedule (warm-up, two step-downs of sqrt(1/10))
- `checkpoint` megatron-core distributed checkpoints (+ data position and RNG), newest-N kept
- `metrics`    JSONL, progress line, TensorBoard; MFU
- `hf_adapter` megatron <-> HuggingFace Llama (safetensors + config.json + tokenizer)
- `chat`       the DeepSeek-Coder instruct template in Python (= the tokenizer's Jinja template)
- `instruct_data` instruction records -> sequences with response-only loss masks, optional packing
- `finetune`   the configs of extend-context (RoPE 1e5 x4, LR held) and instruct (cosine 1e-5)
- `trainer`    the loop: DDP + megatron optimizer + `get_forward_backward_func` (1F1B under PP)

Nothing here imports torch or megatron at package import time, so the CLI stays fast.
"""
