"""The DeepSeek-Coder instruct chat template (paper §3.5; docs/instruct.md), rendered in Python.

The Jinja template that `dscoder tokenize` writes into tokenizers (`stages.tokenize.tokenizer.CHAT_TEMPLATE`)
and this renderer produce the same text byte for byte (tested against `tokenizer.apply_chat_template`),
so the prompts a model is trained on are the prompts it is served with:

    {bos}[default system prompt, unless a system message is given]
    system:    {content}                      (verbatim, where it appears)
    user:      ### Instruction:\\n{content}\\n
    assistant: ### Response:\\n{content}\\n<|EOT|>\\n
    generation prompt: ### Response:

`render_segments` also says which characters are the model's to predict: each assistant turn's
`{content}\\n<|EOT|>` (paper: "each response ends with \\n<|EOT|>"). Everything else (bos, system
prompt, instructions, the `### Response:\\n` header and the newline after `<|EOT|>`) is prompt and is
masked out of the loss.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from stages.tokenize.tokenizer import CHAT_TEMPLATE, EOT, SYSTEM_PROMPT

__all__ = ["CHAT_TEMPLATE", "EOT", "SYSTEM_PROMPT", "render", "render_segments", "alpaca_messages",
           "record_messages"]

ROLES = ("system", "user", "assistant")


def render_segments(messages: Iterable[Mapping[str, str]], bos: str,
                    add_generation_prompt: bool = False) -> list[tuple[str, bool]]:
    """The rendered chat as (text, is_response) pieces whose concatenation is the template's text."""
    messages = list(messages)
    for m in messages:
        if m.get("role") not in ROLES:
            raise ValueError(f"unknown chat role {m.get('role')!r} (expected one of {', '.join(ROLES)})")
        if not isinstance(m.get("content"), str):
            raise ValueError(f"chat message without text content: {m!r}")
    pieces: list[tuple[str, bool]] = [(bos, False)]
    if not any(m["role"] == "system" for m in messages):
        pieces.append((SYSTEM_PROMPT, False))
    for m in messages:
        if m["role"] == "system":
            pieces.append((m["content"], False))
        elif m["role"] == "user":
            pieces.append(("### Instruction:\n" + m["content"] + "\n", False))
        else:
            pieces += [("### Response:\n", False), (m["content"] + "\n" + EOT, True), ("\n", False)]
    if add_generation_prompt:
        pieces.append(("### Response:", False))
    merged: list[tuple[str, bool]] = []   # adjacent pieces of one kind joined: spans, not fragments
    for text, response in pieces:
        if merged and merged[-1][1] == response:
            merged[-1] = (merged[-1][0] + text, response)
        elif text:
            merged.append((text, response))
    return merged


def render(messages: Iterable[Mapping[str, str]], bos: str, add_generation_prompt: bool = False) -> str:
    """The same text as `tokenizer.apply_chat_template(messages, tokenize=False)` with the template above."""
    return "".join(text for text, _ in render_segments(messages, bos, add_generation_prompt))


def alpaca_messages(instruction: str, output: str, input: str | None = None) -> list[dict]:
    """An Alpaca record as a one-turn chat; a non-empty `input` follows the instruction after a blank line."""
    user = instruction if not input else f"{instruction}\n\n{input}"
    return [{"role": "user", "content": user}, {"role": "assistant", "content": output}]


# ShareGPT speakers (`from`) -> chat roles; FastChat's and Axolotl's spellings.
SHAREGPT_ROLES = {"system": "system", "human": "user", "user": "user", "gpt": "assistant",
                  "assistant": "assistant", "chatgpt": "assistant", "bing": "assistant", "bard": "assistant"}
RECORD_FORMATS = ("OpenAI `messages` (role/content)", "ShareGPT `conversations` (from/value)",
                  "Alpaca `instruction`/`output` (optional `input`)", "`prompt`/`completion`")


def _checked(msgs: list[dict], what: str) -> list[dict]:
    if not any(m["role"] == "assistant" for m in msgs):
        raise ValueError(f"a {what} chat needs at least one assistant turn")
    return msgs


def record_messages(record: Mapping) -> list[dict]:
    """A data record as chat messages, in any of `RECORD_FORMATS` (docs/instruct.md#data):

    - `messages`: [{"role": "system"|"user"|"assistant", "content": ...}] (OpenAI chat format)
    - `conversations`: [{"from": "system"|"human"|"gpt", "value": ...}] (ShareGPT)
    - `instruction`, `output`, optional `input` (Alpaca)
    - `prompt`, `completion` (one user turn, one assistant turn)
    """
    if record.get("messages") is not None:
        return _checked([{"role": m["role"], "content": m["content"]} for m in record["messages"]], "`messages`")
    if record.get("conversations") is not None:
        msgs = []
        for turn in record["conversations"]:
            speaker = str(turn.get("from", "")).lower()
            if speaker not in SHAREGPT_ROLES:
                raise ValueError(f"unknown ShareGPT speaker {turn.get('from')!r} (expected one of "
                                 f"{', '.join(SHAREGPT_ROLES)})")
            msgs.append({"role": SHAREGPT_ROLES[speaker], "content": turn.get("value")})
        return _checked(msgs, "`conversations`")
    if record.get("instruction") is not None and record.get("output") is not None:
        return alpaca_messages(str(record["instruction"]), str(record["output"]), record.get("input") or None)
    if record.get("prompt") is not None and record.get("completion") is not None:
        return [{"role": "user", "content": str(record["prompt"])},
                {"role": "assistant", "content": str(record["completion"])}]
    raise ValueError(f"expected one of {'; '.join(RECORD_FORMATS)}; got keys {sorted(record)}")
