"""Instruction data (paper §3.5): Alpaca-style or chat records -> token sequences with loss masks.

Input: JSONL (`.jsonl`/`.json`, one object per line, UTF-8 with or without a byte order mark) or
Parquet files, or folders of them; a bad line is an error naming the file and the line (from 1). A record
is an OpenAI chat (`messages`), a ShareGPT chat (`conversations` with `from`/`value`), Alpaca form
(`instruction`, `output`, optional `input`) or `prompt`/`completion` (`chat.record_messages`). A
tokenizer without `<|EOT|>` (a Llama, Qwen or StarCoder one) gets it added (`chat_tokens_to_add`;
the run's config records it and the trainer starts its rows from the mean embedding). Each record is
rendered with the DeepSeek-Coder instruct template (`chat.py`), the text is encoded once (exactly the
ids `apply_chat_template` gives at inference), and a token carries loss only when its characters lie
inside an assistant turn's `{content}\\n<|EOT|>`: prompt tokens are masked. A text longer than a
sequence can hold is cut before it is encoded (`head_text`: at a line break past seq_length x the
longest token's characters), so a 30 MB record costs what a sequence does; its kept ids are the
same.

Sequences hold `seq_length + 1` tokens (inputs and shifted labels). Without packing, one example per
sequence, padded (padding is masked); with packing, examples are laid end to end, each keeping its own
mask, and a new sequence starts when the next example would not fit. A packed sequence also carries
each token's segment (1, 2, ... per example, 0 on padding), from which the trainer builds a
block-diagonal causal attention mask: no example sees another (`packed_attention_mask`). Positions
need no reset, since RoPE scores depend only on the distance between tokens, so each example's
logits are those it has alone (tested). An example longer than a sequence is truncated, and one whose
kept part has no response token is dropped. Examples are shuffled once (by seed) before packing, and
sequences are re-shuffled every epoch: sample i is a pure function of (seed, i), like `GPTDataset`.
"""

from __future__ import annotations

import bisect
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional

import numpy as np

from stages.core.atomic import atomic_dir
from stages.core.errors import UsageError

from .chat import CHAT_TEMPLATE, EOT, record_messages, render_segments
from .config import MissingFile

DATA_SUFFIXES = (".jsonl", ".json", ".parquet")


# ----------------------------------------------------------------------------- records
def data_files(paths: Iterable[str]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.suffix in DATA_SUFFIXES and f.is_file())
            if not found:
                raise UsageError(f"{p}: no *.jsonl / *.json / *.parquet files")
            files += found
        elif p.is_file():
            if p.suffix not in DATA_SUFFIXES:
                raise UsageError(f"{p}: expected a .jsonl, .json or .parquet file")
            files.append(p)
        else:
            raise MissingFile(f"{p}: no such file or folder")
    return files


def read_records(paths: Iterable[str], with_origin: bool = False) -> Iterator:
    """The records of the DATA files, in order; `with_origin`: (where, record) pairs, where is
    `FILE:LINE` (JSONL, 1-based: the line an editor shows) or `FILE row N` (Parquet, 1-based).
    A UTF-8 byte order mark at the start of a JSONL file is skipped; a line that is not UTF-8, not
    JSON or not a JSON object is a UsageError naming the file and the line."""
    for f in data_files(paths):
        if f.suffix == ".parquet":
            import pyarrow.parquet as pq
            for n, rec in enumerate(pq.read_table(f).to_pylist(), 1):
                yield (f"{f} row {n}", rec) if with_origin else rec
            continue
        with open(f, "rb") as fh:
            for n, raw in enumerate(fh, 1):
                if n == 1 and raw.startswith(b"\xef\xbb\xbf"):   # BOM (Windows editors write one)
                    raw = raw[3:]
                if not raw.strip():
                    continue
                try:
                    rec = json.loads(raw.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    raise UsageError(f"{f}:{n}: not UTF-8 (byte {exc.start + 1} of the line)") from None
                except json.JSONDecodeError as exc:
                    raise UsageError(f"{f}:{n}: not JSON ({exc.msg} at column {exc.colno})") from None
                if not isinstance(rec, dict):
                    raise UsageError(f"{f}:{n}: expected a JSON object (one record a line), got a "
                                     f"{type(rec).__name__}")
                yield (f"{f}:{n}", rec) if with_origin else rec


# ----------------------------------------------------------------------------- tokens
@dataclass
class ChatTokenizer:
    """A tokenizer folder (tokenizer.json + tokenizer_config.json) and what the template needs from it."""

    tokenizer: object   # tokenizers.Tokenizer
    bos: str
    pad_id: int
    _max_token_chars: Optional[int] = field(default=None, repr=False, compare=False)

    @classmethod
    def load(cls, folder: Path, pad_id: int, added_tokens: Optional[dict] = None) -> "ChatTokenizer":
        """`added_tokens` ({name: id}, `chat_tokens_to_add`): the tokens this run adds to a foreign
        tokenizer, added here the same way (ids checked)."""
        folder = Path(folder)
        tok, bos = load_tokenizer(folder)
        if added_tokens:
            add_tokens(tok, added_tokens)
        if bos is not None and tok.token_to_id(bos) is None:
            raise UsageError(f"{folder}: the tokenizer's bos_token {bos!r} is not one of its tokens")
        if tok.token_to_id(EOT) is None:
            raise UsageError(f"{folder}: the tokenizer has no {EOT!r} token, which ends every response of the "
                             "instruct template; --add-chat-tokens (the default) adds it")
        return cls(tok, bos or "", pad_id)

    def encode(self, messages: list[dict], max_tokens: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
        """Token ids of the rendered chat and, per token, whether it is a response token.

        With `max_tokens`, a long chat is cut (in characters) before it is tokenized: the first
        `max_tokens` ids and flags are exactly those of the whole text, and more are returned when
        the text goes on, so the caller sees that it truncated (`head_text`)."""
        segments = render_segments(messages, self.bos)
        text = "".join(t for t, _ in segments)
        spans, pos = [], 0
        for t, response in segments:
            if response:
                spans.append((pos, pos + len(t)))
            pos += len(t)
        enc = self._encode_head(text, max_tokens + 1) if max_tokens else self._encode(text)
        starts = [a for a, _ in spans]
        is_response = np.zeros(len(enc.ids), dtype=bool)
        for k, (a, b) in enumerate(enc.offsets):
            j = bisect.bisect_right(starts, a) - 1
            # a token that straddles a prompt/response border stays prompt (never seen with this template)
            is_response[k] = j >= 0 and b <= spans[j][1] and b > a
        return np.asarray(enc.ids, dtype=np.int64), is_response

    def _encode(self, text: str):
        return self.tokenizer.encode(text, add_special_tokens=False)

    def _encode_head(self, text: str, need: int):
        """An encoding whose first `need` tokens are the whole text's first `need` (all of it when
        the text is not longer than `head_text` keeps, or the head turns out to hold fewer)."""
        head = head_text(text, need, self.max_token_chars)
        if len(head) < len(text):
            enc = self._encode(head)
            if len(enc.ids) >= need:
                return enc
        return self._encode(text)   # short, or a normalizer dropped characters: the whole text

    @property
    def max_token_chars(self) -> int:
        """The most characters one token stands for: its longest vocabulary entry (a byte-level
        entry has a character a byte, so this bounds the text's characters too)."""
        if self._max_token_chars is None:
            self._max_token_chars = max(map(len, self.tokenizer.get_vocab(with_added_tokens=True)), default=1)
        return self._max_token_chars


HEAD_MARGIN = 1 / 8   # text kept past the bound, to reach a line break (at least HEAD_MIN_MARGIN characters)
HEAD_MIN_MARGIN = 4096


def head_text(text: str, need: int, max_token_chars: int) -> str:
    """The head of `text` that is tokenized when only its first `need` tokens are kept.

    `need x max_token_chars` characters surely hold `need` tokens (no token stands for more). The
    head goes on from there to the next line break followed by a non-space character, within a
    margin: pre-tokenizers split there (DeepSeek-Coder's isolates every line break; the GPT-2/-4
    style ones end a whitespace run there), so every token before it is the whole text's. A line
    with no such break within the margin is cut at the margin's end, at least `HEAD_MIN_MARGIN`
    characters after the tokens kept. A text not longer than the head is returned whole."""
    bound = need * max_token_chars
    margin = max(HEAD_MIN_MARGIN, int(bound * HEAD_MARGIN))
    end = bound + margin
    if len(text) <= end:
        return text
    i = text.find("\n", bound, end)
    while i != -1:
        if i + 1 < len(text) and not text[i + 1].isspace():
            return text[:i + 1]
        i = text.find("\n", i + 1, end)
    return text[:end]


def _token_name(value) -> Optional[str]:
    return value.get("content") if isinstance(value, dict) else value


def load_tokenizer(folder: Path):
    """(tokenizers.Tokenizer, bos name or None) of a tokenizer folder. bos: tokenizer_config.json's
    `bos_token`, else DeepSeek-Coder's where the tokenizer has it; a tokenizer without one (Qwen)
    renders the template without it."""
    from tokenizers import Tokenizer
    folder = Path(folder)
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    cfg = {}
    if (folder / "tokenizer_config.json").exists():
        cfg = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    bos = _token_name(cfg.get("bos_token"))
    if bos is None and "bos_token" not in cfg and tok.token_to_id("<｜begin▁of▁sentence｜>") is not None:
        bos = "<｜begin▁of▁sentence｜>"
    return tok, bos


def chat_tokens_to_add(folder: Path) -> dict:
    """{name: new id} of the chat tokens a tokenizer lacks (`<|EOT|>`), numbered after its last id."""
    tok, _ = load_tokenizer(folder)
    if tok.token_to_id(EOT) is not None:
        return {}
    return {EOT: tok.get_vocab_size(with_added_tokens=True)}


def add_tokens(tok, added: dict) -> None:
    """Add `added` ({name: id}) to a tokenizers.Tokenizer as special tokens, and check the ids."""
    from tokenizers import AddedToken
    missing = [name for name in added if tok.token_to_id(name) is None]
    tok.add_special_tokens([AddedToken(name, special=True, normalized=False) for name in missing])
    got = {name: tok.token_to_id(name) for name in added}
    if got != {k: int(v) for k, v in added.items()}:
        raise UsageError(f"adding {sorted(added)} to the tokenizer gave ids {got}, not {added} "
                         "(the tokenizer changed since the run started?)")


@dataclass
class InstructStats:
    records: int = 0
    examples: int = 0
    truncated: int = 0
    dropped: int = 0
    sequences: int = 0
    tokens: int = 0            # real (non-padding) tokens
    response_tokens: int = 0   # tokens that carry loss
    capacity: int = 0          # sequences x (seq_length + 1)
    valid_examples: int = 0    # held out for validation (--split / --valid-data)
    valid_sequences: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "errors"}
        d["fill"] = round(self.tokens / self.capacity, 4) if self.capacity else 0.0
        return d


def encode_examples(records: Iterable, tok: ChatTokenizer, seq_length: int,
                    stats: InstructStats) -> list[tuple[np.ndarray, np.ndarray]]:
    """`records`: dicts, or (where, record) pairs (`read_records(with_origin=True)`) whose `where`
    names a bad one; plain dicts are named `record N` from 1. A record longer than a sequence is
    cut before it is tokenized whole (`ChatTokenizer.encode`): its kept tokens are the same."""
    out = []
    for n, item in enumerate(records, 1):
        where, rec = item if isinstance(item, tuple) else (f"record {n}", item)
        stats.records += 1
        try:
            messages = record_messages(rec)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:   # a field of the wrong shape
            raise UsageError(f"{where}: {exc}") from None
        try:
            ids, resp = tok.encode(messages, max_tokens=seq_length + 1)
        except ValueError as exc:   # a role or content the template cannot render
            raise UsageError(f"{where}: {exc}") from None
        if len(ids) > seq_length + 1:
            ids, resp = ids[:seq_length + 1], resp[:seq_length + 1]
            stats.truncated += 1
        if not resp[1:].any():   # nothing left to learn from
            stats.dropped += 1
            continue
        out.append((ids.astype(np.int32), resp))   # kept for the whole run: 4 bytes an id
    stats.examples = len(out)
    return out


def template_tokens(tok: ChatTokenizer) -> int:
    """Tokens of the prompt template alone (bos, the default system prompt, the `### Instruction:`
    and `### Response:` headers of an empty chat): where the first response token of a record
    without a system message and with an empty instruction would sit."""
    _, resp = tok.encode([{"role": "user", "content": ""}, {"role": "assistant", "content": ""}])
    return int(np.argmax(resp))


def no_examples_error(tok: ChatTokenizer, seq_length: int, stats: InstructStats, data) -> UsageError:
    """Why no record became an example, as one line: no records, or no response token within
    --seq-length (the template alone too long, and by how much)."""
    where = ", ".join(map(str, data))
    if stats.records == 0:
        return UsageError(f"no usable instruction examples: no records in {where}")
    prompt = template_tokens(tok)
    if prompt > seq_length:
        return UsageError(f"no usable instruction examples: the prompt template alone (bos, the default system "
                          f"prompt and the ### Instruction:/### Response: headers) is {prompt} tokens, "
                          f"{prompt - seq_length} more than --seq-length {seq_length}, so no response token fits "
                          f"in a sequence; use a --seq-length well above {prompt}")
    return UsageError(f"no usable instruction examples: all {stats.records} records of {where} were dropped, their "
                      f"prompts leaving no response token within --seq-length {seq_length} (the template alone "
                      f"is {prompt} tokens); use a larger --seq-length")


def build_sequences(examples: list[tuple[np.ndarray, np.ndarray]], seq_length: int, pad_id: int, pack: bool,
                    seed: int, stats: InstructStats) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[N, seq_length+1] token ids, response flags (False on padding) and segments (the example's
    number within its sequence from 1, 0 on padding)."""
    width = seq_length + 1
    order = np.random.default_rng(seed).permutation(len(examples))
    groups: list[list[int]] = []
    used = width
    for i in order:
        n = len(examples[i][0])
        if not pack or used + n > width:
            groups.append([])
            used = 0
        groups[-1].append(int(i))
        used += n
    # Held in memory for the whole run: 4 + 1 + 2 bytes a token (ids, response flag, segment).
    tokens = np.full((len(groups), width), pad_id, dtype=np.int32)
    response = np.zeros((len(groups), width), dtype=bool)
    # An example has >= 2 tokens, so a sequence holds at most width / 2 of them.
    segments = np.zeros((len(groups), width), dtype=np.int16 if width < 65_000 else np.int32)
    for g, members in enumerate(groups):
        pos = 0
        for k, i in enumerate(members, start=1):
            ids, resp = examples[i]
            tokens[g, pos:pos + len(ids)] = ids
            response[g, pos:pos + len(ids)] = resp
            segments[g, pos:pos + len(ids)] = k
            pos += len(ids)
        stats.tokens += pos
    stats.sequences = len(groups)
    stats.capacity = len(groups) * width
    stats.response_tokens = int(response[:, 1:].sum())
    return tokens, response, segments


class InstructDataset:
    """Samples by global index (what the trainer's `BatchSource` reads): epoch e = i // N uses its own
    seeded permutation of the N sequences."""

    def __init__(self, tokens: np.ndarray, response: np.ndarray, seed: int, stats: InstructStats | None = None,
                 segments: np.ndarray | None = None):
        """`segments` (packed data): samples then carry `segment_ids`, and the trainer isolates them."""
        if len(tokens) == 0:
            raise UsageError("no usable instruction examples (every one empty or dropped)")
        self.tokens, self.response, self.seed, self.stats = tokens, response, seed, stats
        self.segments = segments
        self._perm: dict[int, np.ndarray] = {}
        self.position_ids = np.arange(tokens.shape[1] - 1, dtype=np.int64)

    @property
    def num_sequences(self) -> int:
        return len(self.tokens)

    def sequence_index(self, i: int) -> int:
        epoch, k = divmod(int(i), self.num_sequences)
        if epoch not in self._perm:
            self._perm = {epoch: np.random.default_rng([self.seed, epoch]).permutation(self.num_sequences)}
        return int(self._perm[epoch][k])

    def __getitem__(self, i: int) -> dict:
        j = self.sequence_index(i)
        seq, resp = self.tokens[j], self.response[j]
        seq = seq.astype(np.int64)   # what the embedding and the loss's gather take
        sample = {"tokens": seq[:-1], "labels": seq[1:], "loss_mask": resp[1:].astype(np.float32),
                  "position_ids": self.position_ids}
        if self.segments is not None:
            sample["segment_ids"] = self.segments[j, :-1].astype(np.int64)
        return sample


def build_instruct_dataset(data: list[str], tokenizer_dir: Path, pad_id: int, seq_length: int, pack: bool,
                           seed: int, added_tokens: Optional[dict] = None) -> InstructDataset:
    tok = ChatTokenizer.load(tokenizer_dir, pad_id, added_tokens)
    stats = InstructStats()
    examples = encode_examples(read_records(data, with_origin=True), tok, seq_length, stats)
    if not examples:
        raise no_examples_error(tok, seq_length, stats, data)
    tokens, response, segments = build_sequences(examples, seq_length, pad_id, pack, seed, stats)
    return InstructDataset(tokens, response, seed, stats, segments if pack else None)


def build_instruct_datasets(cfg, tokenizer_dir: Path, pad_id: int, validate: bool):
    """(train, valid or None, note) for an instruct `TrainConfig`, with the semantics of pretrain's
    `--split` (data.build_split_datasets) over the examples in record order: train first, then valid;
    `cfg.valid_data`: all of DATA trains, those records validate. A split whose train or (when
    validating) valid part would hold no example is not applied (all trains; `note` says so)."""
    from .data import split_ranges
    tok = ChatTokenizer.load(tokenizer_dir, pad_id, cfg.added_tokens)
    stats = InstructStats()
    examples = encode_examples(read_records(cfg.data, with_origin=True), tok, cfg.seq_length, stats)
    if not examples:
        raise no_examples_error(tok, cfg.seq_length, stats, cfg.data)
    valid_examples, note = [], None
    if cfg.valid_data:
        valid_examples = encode_examples(read_records([cfg.valid_data], with_origin=True), tok, cfg.seq_length,
                                         InstructStats())
    else:
        (t0, t1), (v0, v1), _ = split_ranges(len(examples), cfg.split)
        if t1 <= t0 or (validate and v1 <= v0):
            if validate:
                note = (f"--split {cfg.split} leaves no {'valid' if t1 > t0 else 'train'} example among "
                        f"{len(examples)}: training on all of DATA without validation (use a larger valid "
                        "share, e.g. --split 90,10,0, or --valid-data)")
        else:
            examples, valid_examples = examples[t0:t1], examples[v0:v1]
    stats.examples = len(examples)
    tokens, response, segments = build_sequences(examples, cfg.seq_length, pad_id, cfg.pack_sequences, cfg.seed,
                                                 stats)
    train = InstructDataset(tokens, response, cfg.seed, stats, segments if cfg.pack_sequences else None)
    valid = None
    if validate and valid_examples:
        vstats = InstructStats(examples=len(valid_examples))
        vt, vr, vs = build_sequences(valid_examples, cfg.seq_length, pad_id, cfg.pack_sequences, cfg.seed, vstats)
        valid = InstructDataset(vt, vr, cfg.seed, vstats, vs if cfg.pack_sequences else None)
        stats.valid_examples, stats.valid_sequences = vstats.examples, vstats.sequences
    return train, valid, note


# ----------------------------------------------------------------------------- tokenizer out
def write_chat_tokenizer(src: Path, dst: Path, added_tokens: Optional[dict] = None) -> None:
    """Copy a tokenizer folder for an instruct model: the chat template used in training, and
    `<|EOT|>` as eos (the released instruct models' eos), so `apply_chat_template` and generation
    stop where training put the end of a response. `added_tokens` ({name: id}): tokens this run
    added to a foreign tokenizer, written into its tokenizer.json."""
    if dst.exists():
        return
    from stages.tokenize.tokenizer import tokenizer_config
    with atomic_dir(dst, exist_ok=True) as tmp:
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            if (Path(src) / name).is_file():
                shutil.copyfile(Path(src) / name, tmp / name)
        if added_tokens:
            tok, _ = load_tokenizer(tmp)
            add_tokens(tok, added_tokens)
            tok.save(str(tmp / "tokenizer.json"))
        cfg_file = tmp / "tokenizer_config.json"
        cfg = json.loads(cfg_file.read_text(encoding="utf-8")) if cfg_file.exists() else tokenizer_config()
        if added_tokens and isinstance(cfg.get("added_tokens_decoder"), dict):
            for name, tid in added_tokens.items():
                cfg["added_tokens_decoder"][str(tid)] = {"content": name, "lstrip": False, "normalized": False,
                                                         "rstrip": False, "single_word": False, "special": True}
        cfg["chat_template"] = CHAT_TEMPLATE
        cfg["eos_token"] = EOT
        cfg_file.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        special = tmp / "special_tokens_map.json"
        if special.exists():
            sm = json.loads(special.read_text(encoding="utf-8"))
            sm["eos_token"] = EOT
            special.write_text(json.dumps(sm, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
