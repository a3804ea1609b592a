"""Generation backends: a tiny interface (evalplus's shape) with two implementations.

``Backend.generate(requests) -> list[str]`` takes prompts (text, or chat messages for an instruct
model) with their stop words and token budget and returns the raw generated text of each. Decoding is
greedy at temperature 0, else sampling with top-p. The caller cuts at stop words again (a backend may
overshoot by a token) and stores the completion.

* :class:`TransformersBackend` -- CPU or GPU, batched with left padding, stops a row when its text
  contains a stop word (or at EOS / the token budget).
* :class:`VLLMBackend` -- when ``vllm`` imports and a GPU is present.
* ``OpenAIBackend`` (openai_backend.py) -- a served model behind an OpenAI-compatible HTTP API.

``count_tokens(text)`` says how many tokens a text is to the model (CrossCodeEval's token budgets).

Inputs are tokenized with BOS (DeepSeek's scripts) and truncated from the left to ``max_input_tokens``
(EvalConfig.max_input_tokens: 4096 in the paper's protocol).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

Prompt = Union[str, list]  # text, or chat messages


@dataclass
class Request:
    prompt: Prompt
    stop: list[str]
    max_new_tokens: int  # the benchmark's budget, or --max-new-tokens
    seed: int  # this sample's own seed (`sample_seed`): samples of one prompt differ, re-runs agree
    max_input_tokens: Optional[int] = None  # the benchmark's protocol's (2,048: FIM, PAL-Math), else the sampling's


def sample_seed(seed: int, task_id: str, sample: int) -> int:
    """A seed per (task, sample), independent of batching and of what a resumed run skips."""
    digest = hashlib.blake2b(f"{seed}\x00{task_id}\x00{sample}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


@dataclass(frozen=True)
class SamplingOptions:
    """EvalConfig's sampling fields (their defaults live there)."""

    temperature: float
    top_p: float
    seed: int
    max_input_tokens: int


class Backend:
    name = "base"

    def generate(self, requests: list[Request]) -> list[str]:
        raise NotImplementedError

    def has_tokens(self, *tokens: str) -> bool:
        """Whether every string is one token of the vocabulary (FIM sentinels)."""
        raise NotImplementedError

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` without special tokens, in the model's tokenizer."""
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def close(self) -> None:
        pass


BOS_TEXT = "<｜begin▁of▁sentence｜>"


def _chat_text(tokenizer, messages: list) -> str:
    """The chat prompt as text, BOS included as the template writes it (tokenize it without special
    tokens: one BOS, as DeepSeek's apply_chat_template(tokenize=True) gives). A generation prompt that
    ends in `### Response:` gets the newline the released template renders (its `{{'### Response:'}}`
    is followed by a newline that Jinja keeps) and instruct training data have."""
    if tokenizer is not None and getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return text + "\n" if text.endswith("### Response:") else text
    # No template in the tokenizer: DeepSeek-Coder-Instruct's own (docs/instruct.md, The template).
    system = ("You are an AI programming assistant, utilizing the Deepseek Coder model, developed by Deepseek "
              "Company, and you only answer questions related to computer science. For politically sensitive "
              "questions, security and privacy issues, and other non-computer science questions, you will "
              "refuse to answer\n")
    text = BOS_TEXT + system
    for m in messages:
        if m["role"] == "user":
            text += f"### Instruction:\n{m['content']}\n"
        elif m["role"] == "assistant":
            text += f"### Response:\n{m['content']}\n<|EOT|>\n"
    return text + "### Response:\n"


def load_tokenizer(model_path: Path):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(str(model_path))


def prompt_record(tokenizer, prompt: Prompt) -> dict:
    """What prompts.jsonl says was sent: `prompt`, the text tokenized (a chat prompt rendered by the
    template, its BOS in the text; a text prompt as is, the tokenizer adding BOS); `messages` for chat."""
    if isinstance(prompt, list):
        return {"prompt": _chat_text(tokenizer, prompt), "messages": prompt, "bos": "in the text"}
    return {"prompt": prompt, "bos": "added by the tokenizer"}


def encode_prompt(tokenizer, text: str, max_input_tokens: int) -> list[int]:
    """Token ids with exactly one BOS: text that starts with it (a rendered chat template) is tokenized
    without special tokens; other text with them, BOS prepended where the tokenizer adds none. Cut
    from the left to `max_input_tokens`."""
    bos_text = tokenizer.bos_token or BOS_TEXT
    if text.startswith(bos_text):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    else:
        ids = tokenizer(text, add_special_tokens=True)["input_ids"]
    bos = tokenizer.bos_token_id
    if bos is not None and (not ids or ids[0] != bos):
        ids = [bos] + ids  # DeepSeek encodes with BOS; some tokenizers do not add it
    return ids[-max_input_tokens:]


class TransformersBackend(Backend):
    name = "transformers"

    def __init__(self, model_path: Path, sampling: SamplingOptions, batch_size: int,
                 device: Optional[str] = None, dtype: Optional[str] = None):
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # the sandbox pool forks later
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.sampling = sampling
        self.batch_size = batch_size
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if dtype is None:
            dtype = "bfloat16" if self.device.startswith("cuda") else "float32"
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_path))
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(str(model_path), dtype=getattr(torch, dtype))
        self.model.to(self.device).eval()
        self.eos_ids = self._eos_ids()

    def _eos_ids(self) -> list[int]:
        ids = set()
        for source in (self.tokenizer.eos_token_id, getattr(self.model.generation_config, "eos_token_id", None)):
            if isinstance(source, int):
                ids.add(source)
            elif source:
                ids.update(source)
        eot = self.tokenizer.convert_tokens_to_ids("<|EOT|>")  # instruct models end a turn with it
        if isinstance(eot, int) and eot != self.tokenizer.unk_token_id:
            ids.add(eot)
        return sorted(ids)

    def has_tokens(self, *tokens: str) -> bool:
        vocab = self.tokenizer.get_vocab()
        return all(t in vocab for t in tokens)

    def _text(self, prompt: Prompt) -> str:
        return _chat_text(self.tokenizer, prompt) if isinstance(prompt, list) else prompt

    def _encode(self, text: str, max_input_tokens: Optional[int] = None) -> list[int]:
        return encode_prompt(self.tokenizer, text, max_input_tokens or self.sampling.max_input_tokens)

    def generate(self, requests: list[Request]) -> list[str]:
        out: list[str] = []
        for i in range(0, len(requests), self.batch_size):
            out.extend(self._batch(requests[i:i + self.batch_size]))
        return out

    def _batch(self, batch: list[Request]) -> list[str]:
        torch = self.torch
        encoded = [self._encode(self._text(r.prompt), r.max_input_tokens) for r in batch]
        width = max(len(e) for e in encoded)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(e)) + e for e in encoded], device=self.device)
        attention = torch.tensor([[0] * (width - len(e)) + [1] * len(e) for e in encoded], device=self.device)
        max_new = max(r.max_new_tokens for r in batch)
        stops = [r.stop for r in batch]
        criteria = _StopOnWords(self.tokenizer, width, stops, [r.max_new_tokens for r in batch])
        kwargs = dict(max_new_tokens=max_new, pad_token_id=pad, eos_token_id=self.eos_ids or None,
                      stopping_criteria=[criteria])
        if self.sampling.temperature > 0:
            torch.manual_seed(batch[0].seed)  # one seed per batch: batches of the same prompt differ
            kwargs.update(do_sample=True, temperature=self.sampling.temperature, top_p=self.sampling.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        with torch.no_grad():
            result = self.model.generate(input_ids=input_ids, attention_mask=attention, **kwargs)
        texts = []
        for row, r in zip(result, batch):
            new = row[width:width + r.max_new_tokens].tolist()
            new = _cut_at_eos(new, self.eos_ids, pad)
            texts.append(self.tokenizer.decode(new, skip_special_tokens=True))
        return texts


def _cut_at_eos(ids: list[int], eos_ids: list[int], pad: Optional[int]) -> list[int]:
    for j, t in enumerate(ids):
        if t in eos_ids:
            return ids[:j]
    return ids


class _StopOnWords:
    """A per-row stopping criterion: done once the row's new text holds a stop word or it used its
    own token budget (rows of one batch may have different budgets)."""

    def __init__(self, tokenizer, prompt_width: int, stops: list[list[str]], budgets: list[int]):
        self.tokenizer, self.width, self.stops, self.budgets = tokenizer, prompt_width, stops, budgets

    def __call__(self, input_ids, scores, **kwargs):
        import torch
        done = []
        for i, row in enumerate(input_ids):
            new = row[self.width:]
            finished = len(new) >= self.budgets[i]
            if not finished and self.stops[i]:
                text = self.tokenizer.decode(new[-64:].tolist(), skip_special_tokens=True) if len(new) > 64 \
                    else self.tokenizer.decode(new.tolist(), skip_special_tokens=True)
                finished = any(w in text for w in self.stops[i])
            done.append(finished)
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class VLLMBackend(Backend):
    name = "vllm"

    def __init__(self, model_path: Path, sampling: SamplingOptions, tensor_parallel: int = 1):
        from vllm import LLM  # noqa: F401 -- ImportError tells the caller vLLM is not installed

        self.sampling = sampling
        self.llm = LLM(model=str(model_path), tensor_parallel_size=tensor_parallel, dtype="bfloat16",
                       max_model_len=sampling.max_input_tokens + 1024, seed=sampling.seed)
        self.tokenizer = self.llm.get_tokenizer()

    def has_tokens(self, *tokens: str) -> bool:
        vocab = self.tokenizer.get_vocab()
        return all(t in vocab for t in tokens)

    def generate(self, requests: list[Request]) -> list[str]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        prompts, params = [], []
        for r in requests:
            text = _chat_text(self.tokenizer, r.prompt) if isinstance(r.prompt, list) else r.prompt
            ids = encode_prompt(self.tokenizer, text, r.max_input_tokens or self.sampling.max_input_tokens)
            prompts.append(TokensPrompt(prompt_token_ids=ids))
            params.append(SamplingParams(temperature=self.sampling.temperature,
                                         top_p=self.sampling.top_p if self.sampling.temperature > 0 else 1.0,
                                         max_tokens=r.max_new_tokens, stop=r.stop or None,
                                         seed=r.seed))
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        return [o.outputs[0].text for o in outputs]


def vllm_available() -> bool:
    try:
        import importlib.util
        if importlib.util.find_spec("vllm") is None:
            return False
        import torch
        return torch.cuda.is_available()
    except Exception:
        return False


def make_backend(name: str, model_path: Path, sampling: SamplingOptions, batch_size: int,
                 device: Optional[str] = None, endpoint=None, log=None) -> Backend:
    """`auto`: vLLM when installed with a GPU, else transformers; `openai`: the served model that
    ``endpoint`` (openai_backend.EndpointOptions) names."""
    if name == "openai":
        from .openai_backend import OpenAIBackend
        return OpenAIBackend(endpoint, sampling, log=log or (lambda m: None))
    if name == "auto":
        name = "vllm" if vllm_available() else "transformers"
    if name == "vllm":
        try:
            return VLLMBackend(model_path, sampling)
        except ImportError as exc:
            raise ValueError(f"--backend vllm: vLLM is not installed ({exc})") from exc
    if name == "transformers":
        return TransformersBackend(model_path, sampling, batch_size=batch_size, device=device)
    raise ValueError(f"unknown backend {name!r}: choose auto, transformers, vllm or openai")


def check_backend(name: str) -> None:
    """ValueError when `name` cannot run here (before anything is loaded or written)."""
    if name == "vllm":
        import importlib.util
        if importlib.util.find_spec("vllm") is None:
            raise ValueError("--backend vllm: vLLM is not installed (pip install vllm, on a machine with a GPU)")
    elif name not in ("auto", "transformers", "openai"):
        raise ValueError(f"unknown backend {name!r}: choose auto, transformers, vllm or openai")


def check_model(model: Path) -> None:
    """ValueError unless `model` is a HuggingFace model folder or a dscoder checkpoint (nothing exported)."""
    model = Path(model)
    if is_hf_model_folder(model):
        return
    try:
        from stages.train.checkpoint import resolve_checkpoint
    except ImportError:
        raise ValueError(f"--model {model}: not a HuggingFace model folder (no config.json), and this "
                         "installation cannot export dscoder checkpoints (stages.train missing)") from None
    try:
        resolve_checkpoint(model)
    except FileNotFoundError:
        raise ValueError(f"--model {model}: neither a HuggingFace model folder (config.json) nor a dscoder "
                         "checkpoint") from None


def is_hf_model_folder(path: Path) -> bool:
    return (Path(path) / "config.json").exists()


def resolve_model(model: Path, cache: Path, log=print) -> Path:
    """An HF folder as is; a dscoder checkpoint (training OUTPUT or one checkpoint) exported once to
    `cache` with stages.train's export-hf (reused on resume)."""
    model = Path(model)
    if is_hf_model_folder(model):
        return model
    try:
        from stages.train.checkpoint import resolve_checkpoint
        from stages.train.hf_io import export_hf
    except ImportError:
        raise ValueError(f"--model {model}: not a HuggingFace model folder (no config.json), and this "
                         "installation cannot export dscoder checkpoints (stages.train missing)") from None
    try:
        ckpt = resolve_checkpoint(model)
    except FileNotFoundError:
        raise ValueError(f"--model {model}: neither a HuggingFace model folder (config.json) nor a dscoder "
                         "checkpoint") from None
    marker = cache / "dscoder_export.json"
    if is_hf_model_folder(cache) and marker.exists():
        import json
        if json.loads(marker.read_text()).get("checkpoint") == str(ckpt):
            return cache
    log(f"exporting {ckpt} to HuggingFace format in {cache} (dscoder export-hf)")
    cache.parent.mkdir(parents=True, exist_ok=True)
    export_hf(ckpt, cache, "bfloat16")
    return cache
