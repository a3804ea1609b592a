"""One megatron-core trainer for pretrain, extend-context and instruct (docs/pretrain.md,
docs/extend-context.md, docs/instruct.md).

Components, each one job (torchtitan's layout), listed so that each imports only those above it:

- `config`       every training default: model presets (paper Table 2), the commands' options, the
                 resolved training config (YAML in and out)
- `quiet`        the known harmless third-party warnings, filtered at start-up (each with why; --verbose)
- `cpu_compat`   the CUDA redirections megatron-core needs on a CPU (a no-op with CUDA)
- `distributed`  ranks from torchrun / srun / a single process; process groups, megatron's parallel state
- `model`        `TransformerConfig` + `GPTModel` for a preset (recomputation, sequence parallelism); FLOPs per token
- `memory`       GPU memory per rank estimated from a model config and layout (docs/pretrain.md#memory)
- `optim`        the paper's LR schedule (warm-up, two step-downs of sqrt(1/10))
- `checkpoint`   megatron-core distributed checkpoints (+ data position and RNG), newest-N kept
- `metrics`      JSONL (training and validation rows), progress line, TensorBoard, W&B; MFU, peak memory
- `data`         tokenizer folder, `GPTDataset` blends over `.bin/.idx` folders split train/valid
                 (Megatron's --split) or validated on --valid-data, resumable batches
- `chat`         the DeepSeek-Coder instruct template in Python (= the tokenizer's Jinja template)
- `instruct_data` instruction records -> sequences with response-only loss masks, optional packing
- `hf_mapping`   megatron <-> HuggingFace Llama tensors and config.json (pure)
- `hf_io`        HF folders in and out (safetensors + config.json + tokenizer), in one process
- `trainer`      the loop: DDP + megatron optimizer + `get_forward_backward_func` (1F1B under PP)
- `launch`       `--nproc` local ranks; `python -m stages.train.launch JOB` is what each one runs
- `finetune`     the configs of extend-context (RoPE 1e5 x4, LR held) and instruct (cosine 1e-5)
- `runner`       a command's run: pretrain's config, OUTPUT opened, trainer in this process or spawned

Nothing here imports torch or megatron at package import time, so the CLI stays fast.
"""
