"""A served model behind an OpenAI-compatible HTTP API (vLLM, TGI, llama.cpp, SGLang, OpenAI):
``--backend openai --base-url URL --model NAME`` (docs/eval.md "Served models").

* Text prompts go to ``POST {base}/completions`` (``prompt``, ``max_tokens``, ``temperature``,
  ``top_p``, ``stop``, ``seed``), chat messages (``--instruct``) to ``POST {base}/chat/completions``.
  FIM prompts are rewritten into the served model's own layout (``--fim-layout``) and sent to the
  completions endpoint as text.
* ``--concurrency`` requests at once (threads; the GIL is idle while waiting on the network).
* A request that fails for a reason that passes -- HTTP 408, 409, 429, 500, 502, 503, 504, a dropped
  or refused connection, a timeout (``--request-timeout``) -- is retried up to ``--request-retries``
  times, after ``Retry-After`` when the server sends one, else after 1, 2, 4, ... s (at most 60 s);
  any other answer (400, 401, 404, a body that is not a completion) stops the run at once with the
  server's message. What was generated before is kept: the run resumes where it stopped.
* The API key is read from the environment variable ``--api-key-env`` (default ``OPENAI_API_KEY``)
  and sent only in the ``Authorization`` header; it is never printed, logged, put in an error
  message or written to a file (the manifest records the variable's name, not its value).
* Token counts (CrossCodeEval's 512-token context budget): ``--tokenizer`` (a HuggingFace tokenizer
  folder, the served model's) counts them exactly; without one they are estimated at 3 bytes a token.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from stages.core.errors import DscoderError, UsageError

FIM_BEGIN, FIM_HOLE, FIM_END = "<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"
# prefix, suffix -> the text a model of each family was trained to fill in (PSM).
FIM_LAYOUTS: dict[str, Callable[[str, str], str]] = {
    "deepseek": lambda p, s: f"{FIM_BEGIN}{p}{FIM_HOLE}{s}{FIM_END}",
    "starcoder": lambda p, s: f"<fim_prefix>{p}<fim_suffix>{s}<fim_middle>",
    "qwen": lambda p, s: f"<|fim_prefix|>{p}<|fim_suffix|>{s}<|fim_middle|>",
    "codellama": lambda p, s: f"<PRE> {p} <SUF>{s} <MID>",
}
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_BACKOFF = 60.0
MAX_STOP_WORDS = 4  # OpenAI's limit; the caller cuts at every stop word again anyway
BYTES_PER_TOKEN = 3  # the estimate without --tokenizer (code: 3-4 bytes a token in BPE vocabularies)


@dataclass(frozen=True)
class EndpointOptions:
    """EvalConfig's endpoint fields (their defaults live there)."""

    base_url: str
    model: str
    api_key_env: str
    concurrency: int
    timeout: float
    retries: int
    fim_layout: str = "deepseek"
    tokenizer: Optional[Path] = None


class EndpointError(DscoderError):
    """The endpoint answered something that retrying will not change (or kept failing)."""


class _Transient(Exception):
    def __init__(self, why: str, retry_after: Optional[float] = None):
        super().__init__(why)
        self.why, self.retry_after = why, retry_after


def _retry_after(value: Optional[str]) -> Optional[float]:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: back off as usual


class OpenAIBackend:
    """generate.Backend's interface (generate, has_tokens, count_tokens, close) over HTTP; made by
    generate.make_backend (this module does not import generate: no cycle)."""

    name = "openai"
    backoff_base = 1.0  # seconds before the first retry (doubled each time)

    def __init__(self, endpoint: EndpointOptions, sampling,
                 log: Callable[[str], None] = lambda m: None):
        self.endpoint = endpoint
        self.sampling = sampling
        self.log = log
        self.base = endpoint.base_url.rstrip("/")
        if not self.base.startswith(("http://", "https://")):
            raise UsageError(f"--base-url {endpoint.base_url!r}: give an http:// or https:// URL "
                             "(e.g. http://127.0.0.1:8000/v1)")
        self._key = os.environ.get(endpoint.api_key_env) or None
        self.tokenizer = None
        if endpoint.tokenizer is not None:
            from transformers import AutoTokenizer
            try:
                self.tokenizer = AutoTokenizer.from_pretrained(str(endpoint.tokenizer))
            except (OSError, ValueError) as exc:
                raise UsageError(f"--tokenizer {endpoint.tokenizer}: cannot load a tokenizer ({exc})") from None
        self.retried = 0  # requests retried (the summary and the tests read it)

    # -- the Backend interface -------------------------------------------------------------
    def has_tokens(self, *tokens: str) -> bool:
        return True  # FIM prompts are rewritten into --fim-layout, the served model's own

    def count_tokens(self, text: str) -> int:
        if self.tokenizer is not None:
            return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        return (len(text.encode("utf-8", "surrogatepass")) + BYTES_PER_TOKEN - 1) // BYTES_PER_TOKEN

    def close(self) -> None:
        pass

    def generate(self, requests: list) -> list[str]:
        if not requests:
            return []
        workers = max(1, min(self.endpoint.concurrency, len(requests)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dscoder-openai") as pool:
            return list(pool.map(self._one, requests))

    # -- requests ----------------------------------------------------------------------------
    def payload(self, r) -> tuple[str, dict]:
        """(endpoint path, JSON body) of one request."""
        body: dict = {"model": self.endpoint.model, "max_tokens": r.max_new_tokens,
                      "temperature": self.sampling.temperature, "seed": r.seed}
        if self.sampling.temperature > 0:
            body["top_p"] = self.sampling.top_p
        if r.stop:
            body["stop"] = list(r.stop)[:MAX_STOP_WORDS]
        if isinstance(r.prompt, list):
            return "/chat/completions", {**body, "messages": r.prompt}
        return "/completions", {**body, "prompt": self.fim_prompt(r.prompt)}

    def fim_prompt(self, prompt: str) -> str:
        """A DeepSeek-layout FIM prompt in the served model's layout; other text unchanged."""
        if self.endpoint.fim_layout == "deepseek" or not (prompt.startswith(FIM_BEGIN) and prompt.endswith(FIM_END)
                                                         and FIM_HOLE in prompt):
            return prompt
        prefix, suffix = prompt[len(FIM_BEGIN):-len(FIM_END)].split(FIM_HOLE, 1)
        return FIM_LAYOUTS[self.endpoint.fim_layout](prefix, suffix)

    def _one(self, r) -> str:
        path, body = self.payload(r)
        attempt = 0
        while True:
            try:
                return self._post(path, body)
            except _Transient as exc:
                if attempt >= self.endpoint.retries:
                    raise EndpointError(f"{self.base}{path}: {exc.why}; gave up after {attempt + 1} tries "
                                        "(--request-retries); run the same command again to resume") from None
                wait = exc.retry_after if exc.retry_after is not None else \
                    min(MAX_BACKOFF, self.backoff_base * 2 ** attempt)
                attempt += 1
                self.retried += 1
                self.log(f"{self.base}{path}: {exc.why}; retry {attempt}/{self.endpoint.retries} in {wait:g}s")
                time.sleep(wait)

    def _post(self, path: str, body: dict) -> str:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        request = urllib.request.Request(self.base + path, data=json.dumps(body).encode(), headers=headers,
                                         method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.endpoint.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = _error_detail(exc)
            if exc.code in RETRY_STATUSES:
                raise _Transient(f"HTTP {exc.code}{detail}", _retry_after(exc.headers.get("Retry-After"))) from None
            raise EndpointError(f"{self.base}{path}: HTTP {exc.code}{detail}"
                                + (" (is the key in $" + self.endpoint.api_key_env + " right?)"
                                   if exc.code in (401, 403) else "")) from None
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError, socket.timeout,
                TimeoutError) as exc:
            reason = getattr(exc, "reason", None) or exc
            what = f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__
            raise _Transient(f"connection failed ({what})") from None
        return self._text(path, raw)

    def _text(self, path: str, raw: bytes) -> str:
        try:
            choice = json.loads(raw)["choices"][0]
            text = choice["message"]["content"] if path == "/chat/completions" else choice["text"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise EndpointError(f"{self.base}{path}: the answer is not a completion: {raw[:200]!r}") from None
        if not isinstance(text, str):
            if text is None:
                return ""
            raise EndpointError(f"{self.base}{path}: the completion is not text: {text!r:.200}")
        return text


def _error_detail(exc: urllib.error.HTTPError) -> str:
    """`: message` from the server's JSON error body (OpenAI's and vLLM's shape), else its start."""
    try:
        body = exc.read()[:2000]
    except Exception:  # noqa: BLE001 - a body that cannot be read says nothing more
        return ""
    try:
        data = json.loads(body)
        error = data.get("error", data) if isinstance(data, dict) else data
        message = error.get("message") if isinstance(error, dict) else error
        return f": {str(message)[:300]}" if message else ""
    except ValueError:
        text = body.decode("utf-8", "replace").strip()
        return f": {text[:200]}" if text else ""
