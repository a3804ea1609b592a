"""The DeepSeek-Coder tokenizer (paper §3.1): byte-level BPE with the released added-token layout.

The released tokenizer (as ported by llama.cpp) is a HuggingFace `tokenizers` BPE with

- no normalizer;
- a pre-tokenizer that splits on `[\\r\\n]`, `\\s?\\p{L}+`, `\\s?\\p{P}+`, CJK runs and single digits, then
  maps bytes to the GPT-2 byte-level alphabet (no prefix space, no regex of its own);
- a base vocabulary of 32,000 tokens, then 22 added tokens at 32000-32021 (docs/tokenize.md);
- a post-processor that puts `<｜begin▁of▁sentence｜>` first (`add_bos_token` true).

Ids 32000-32012 are the 13 byte-level characters of the bytes that never occur in UTF-8 (0xC0, 0xC1,
0xF5-0xFF): BPE trained on UTF-8 text never sees them, so the release appended them as added tokens
to make all 256 bytes representable. We reproduce that by training on the other 243 byte characters
only, so a tokenizer trained here has the released ids for every added token.

`provide_tokenizer()` creates a stage output's `tokenizer/` folder: a copy of a given tokenizer, or one
trained on a sample of the input (`sample_texts`: whole documents drawn by a seeded draw from their
keys, fed to the library in newline-cut pieces) in a forked child. The trainer's memory then grows with
the distinct pre-tokens of the sample, not with its largest document (docs/tokenize.md#memory).

`text_encoder()` gives the same tokenizer without its added tokens and post-processor: the tokenize
stage encodes document text with it, so a document that contains the text `<|EOT|>` or `ö` is
encoded as ordinary text and only the stage itself writes control ids (FIM markers, end of sentence).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import pyarrow.parquet as pq

from stages.core.atomic import atomic_dir, remove_stale_tmp_dirs
from stages.core.shards import require_columns
from stages.core.errors import DscoderError, UsageError
from stages.tokenize.config import TokenizeConfig
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

BOS = "<｜begin▁of▁sentence｜>"  # U+FF5C "｜" and U+2581 "▁", as released
EOS = "<｜end▁of▁sentence｜>"
FIM_HOLE = "<｜fim▁hole｜>"
FIM_BEGIN = "<｜fim▁begin｜>"
FIM_END = "<｜fim▁end｜>"
PAD = "<pad>"
USER = "<|User|>"
ASSISTANT = "<|Assistant|>"
EOT = "<|EOT|>"

# Bytes 0xF5, 0xF7, 0xC1, 0xFD, 0xC0, 0xFF, 0xF8, 0xFA, 0xFE, 0xFC, 0xF9, 0xF6, 0xFB in the GPT-2
# byte-level alphabet, in the released order (ids 32000-32012).
NON_UTF8_BYTE_CHARS = ("õ", "÷", "Á", "ý", "À", "ÿ", "ø", "ú", "þ", "ü", "ù", "ö", "û")

# (content, special) in id order from `vocab_size` on: the released layout of ids 32000-32021.
ADDED_TOKENS: tuple[tuple[str, bool], ...] = (
    *((c, False) for c in NON_UTF8_BYTE_CHARS),
    (BOS, True), (EOS, True), (FIM_HOLE, False), (FIM_BEGIN, False), (FIM_END, False),
    (PAD, False), (USER, False), (ASSISTANT, False), (EOT, True),
)

# Unreachable base-vocabulary entries used when BPE training stops before `vocab_size` (a small
# corpus). "｜" is outside the byte-level alphabet, so no merge can ever produce one of these; the
# name follows the placeholders of the later DeepSeek tokenizers.
PLACEHOLDER = "<｜place▁holder▁no▁{}｜>"

# DeepSeek-Coder pre-tokenizer, in llama.cpp's port (LLAMA_VOCAB_PRE_TYPE_DEEPSEEK_CODER).
PRE_TOKENIZER_SPLITS = (r"[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", "[一-龥ࠀ-一가-퟿]+")

MODEL_MAX_LENGTH = 16384
# A temporary tokenizer folder older than this belongs to a killed run, not to a live rank.
STALE_TMP_SECONDS = 3600
TEXT_COLUMNS = ("text", "content")  # samples schema, files schema

# The instruct models' template (paper §3.5; docs/instruct.md): bos, the default system prompt
# unless a system message is given, `### Instruction:` / `### Response:` turns, `<|EOT|>` after answers.
SYSTEM_PROMPT = (
    "You are an AI programming assistant, utilizing the Deepseek Coder model, developed by Deepseek "
    "Company, and you only answer questions related to computer science. For politically sensitive "
    "questions, security and privacy issues, and other non-computer science questions, you will refuse "
    "to answer\n")
CHAT_TEMPLATE = (
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{%- set ns = namespace(found=false) -%}"
    "{%- for message in messages -%}{%- if message['role'] == 'system' -%}{%- set ns.found = true -%}"
    "{%- endif -%}{%- endfor -%}"
    "{{bos_token}}{%- if not ns.found -%}{{'" + SYSTEM_PROMPT.replace("\n", "\\n") + "'}}{%- endif %}"
    "{%- for message in messages %}{%- if message['role'] == 'system' %}{{ message['content'] }}"
    "{%- else %}{%- if message['role'] == 'user' %}{{'### Instruction:\\n' + message['content'] + '\\n'}}"
    "{%- else %}{{'### Response:\\n' + message['content'] + '\\n<|EOT|>\\n'}}{%- endif %}{%- endif %}"
    "{%- endfor %}{% if add_generation_prompt %}{{'### Response:'}}{% endif %}"
)


@dataclass(frozen=True)
class SpecialIds:
    """The ids the tokenize stage writes itself, looked up by content in any loaded tokenizer."""

    eos: int
    fim_begin: int | None
    fim_hole: int | None
    fim_end: int | None
    vocab_size: int  # len(tokenizer), added tokens included

    @classmethod
    def of(cls, tokenizer: Tokenizer, eos_name: str | None = None) -> "SpecialIds":
        """eos: DeepSeek-Coder's, else the tokenizer's own (`eos_name`, from its tokenizer_config.json,
        then the usual `</s>`, `<|endoftext|>`, `<eos>`): a Llama, GPT-2 or StarCoder tokenizer works."""
        ids = {t: tokenizer.token_to_id(t) for t in (FIM_BEGIN, FIM_HOLE, FIM_END)}
        eos = next((tokenizer.token_to_id(t) for t in (EOS, eos_name, *FOREIGN_EOS)
                    if t and tokenizer.token_to_id(t) is not None), None)
        return cls(eos=eos, fim_begin=ids[FIM_BEGIN], fim_hole=ids[FIM_HOLE], fim_end=ids[FIM_END],
                   vocab_size=tokenizer.get_vocab_size(with_added_tokens=True))


FOREIGN_EOS = ("</s>", "<|endoftext|>", "<eos>")


def eos_name_of(folder: Path) -> str | None:
    """The `eos_token` a tokenizer folder's tokenizer_config.json names (None without one)."""
    cfg_file = Path(folder) / "tokenizer_config.json"
    if not Path(folder).is_dir() or not cfg_file.is_file():
        return None
    try:
        eos = json.loads(cfg_file.read_text(encoding="utf-8")).get("eos_token")
    except (OSError, ValueError):
        return None
    return eos.get("content") if isinstance(eos, dict) else eos


def add_fim_tokens(folder: Path) -> list[str]:
    """Add DeepSeek-Coder's three FIM tokens that the tokenizer in `folder` lacks, as special tokens
    after its last id (tokenizer.json rewritten); returns those added. The model's embedding must
    then have rows for them (pretrain sizes it from the tokenizer)."""
    tok = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
    missing = [t for t in (FIM_HOLE, FIM_BEGIN, FIM_END) if tok.token_to_id(t) is None]
    if missing:
        tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in missing])
        tok.save(str(Path(folder) / "tokenizer.json"))
    return missing


def byte_level_alphabet() -> list[str]:
    """The 243 byte-level characters of bytes that occur in UTF-8 text."""
    return [c for c in pre_tokenizers.ByteLevel.alphabet() if c not in NON_UTF8_BYTE_CHARS]


def deepseek_pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    splits = [pre_tokenizers.Split(Regex(p), behavior="isolated") for p in PRE_TOKENIZER_SPLITS]
    return pre_tokenizers.Sequence([
        *splits,
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])


def train_bpe(texts: Iterable[str], vocab_size: int, length: int | None = None) -> Tokenizer:
    """Train the base vocabulary (exactly `vocab_size` tokens) and add the released tokens after it.

    `texts` is consumed as a stream (tokenizers counts words batch by batch). When the corpus is too
    small for `vocab_size - 243` merges, the rest of the base vocabulary is filled with unreachable
    placeholders, so the added tokens still start at `vocab_size`.
    """
    alphabet = byte_level_alphabet()
    if vocab_size < len(alphabet):
        raise ValueError(f"--vocab-size must be at least {len(alphabet)} (the byte-level alphabet)")
    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = deepseek_pre_tokenizer()
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False,
                                  initial_alphabet=alphabet, special_tokens=[])
    tok.train_from_iterator(texts, trainer=trainer, length=length)
    tok = pad_base_vocab(tok, vocab_size)
    return with_added_tokens(tok)


def pad_base_vocab(tok: Tokenizer, vocab_size: int) -> Tokenizer:
    spec = json.loads(tok.to_str())
    vocab: dict[str, int] = spec["model"]["vocab"]
    n = len(vocab)
    if n > vocab_size:
        raise ValueError(f"base vocabulary has {n} tokens, more than --vocab-size {vocab_size}")
    vocab.update({PLACEHOLDER.format(i): i for i in range(n, vocab_size)})
    return Tokenizer.from_str(json.dumps(spec, ensure_ascii=False))


def with_added_tokens(tok: Tokenizer) -> Tokenizer:
    """Append the released added tokens (ids vocab_size .. vocab_size+21) and the bos post-processor."""
    base = tok.get_vocab_size(with_added_tokens=False)
    for content, special in ADDED_TOKENS:
        token = AddedToken(content, single_word=False, lstrip=False, rstrip=False, normalized=not special,
                           special=special)
        (tok.add_special_tokens if special else tok.add_tokens)([token])
    for i, (content, _) in enumerate(ADDED_TOKENS):  # a duplicate content would shift every id
        assert tok.token_to_id(content) == base + i, (content, tok.token_to_id(content), base + i)
    bos = tok.token_to_id(BOS)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS}:0 $A:0", pair=f"{BOS}:0 $A:0 {BOS}:1 $B:1", special_tokens=[(BOS, bos)])
    return tok


def text_encoder(tok: Tokenizer) -> Tokenizer:
    """`tok` without added tokens, post-processor, padding or truncation: plain text in, BPE ids out."""
    spec = json.loads(tok.to_str())
    spec["added_tokens"] = []
    spec["post_processor"] = None
    spec["padding"] = None
    spec["truncation"] = None
    return Tokenizer.from_str(json.dumps(spec, ensure_ascii=False))


def tokenizer_config(eos: str = EOS) -> dict:
    """tokenizer_config.json for `transformers.AutoTokenizer`, in the release's shape.

    `PreTrainedTokenizerFast` (not the release's `LlamaTokenizerFast`): it loads tokenizer.json as it
    is, where transformers 5's Llama class rebuilds parts of the pipeline for SentencePiece models.
    """
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "add_bos_token": True, "add_eos_token": False,
        "bos_token": BOS, "eos_token": eos, "pad_token": EOS, "unk_token": None,
        "model_max_length": MODEL_MAX_LENGTH, "clean_up_tokenization_spaces": False,
        "legacy": True, "chat_template": CHAT_TEMPLATE,
    }


HF_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def save_hf(tok: Tokenizer, folder: Path) -> None:
    """Write `folder/tokenizer.json` and `folder/tokenizer_config.json` (folder must exist)."""
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(
        json.dumps(tokenizer_config(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def resolve_tokenizer_file(path: Path) -> Path:
    """`path` is a tokenizer.json or a HuggingFace tokenizer folder holding one."""
    path = Path(path)
    file = path / "tokenizer.json" if path.is_dir() else path
    if not file.is_file():
        raise UsageError(f"--tokenizer {path}: no tokenizer.json there (a HuggingFace fast tokenizer "
                         "folder or its tokenizer.json is needed)")
    return file


def copy_hf(path: Path, folder: Path) -> None:
    """Copy an existing tokenizer into `folder`, adding a tokenizer_config.json when it has none."""
    file = resolve_tokenizer_file(path)
    shutil.copyfile(file, folder / "tokenizer.json")
    for name in HF_FILES[1:]:
        if (file.parent / name).is_file() and Path(path).is_dir():
            shutil.copyfile(file.parent / name, folder / name)
    if not (folder / "tokenizer_config.json").exists():
        (folder / "tokenizer_config.json").write_text(
            json.dumps(tokenizer_config(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def check_special_tokens(ids: SpecialIds, fim_rate: float, where: str) -> None:
    missing = [EOS] if ids.eos is None else []
    if fim_rate > 0:
        missing += [t for t, i in ((FIM_BEGIN, ids.fim_begin), (FIM_HOLE, ids.fim_hole),
                                   (FIM_END, ids.fim_end)) if i is None]
    if missing:
        if ids.eos is None:
            missing = [f"{EOS} (or its own eos_token / {' / '.join(FOREIGN_EOS)})"] + missing[1:]
        raise UsageError(f"{where} lacks the DeepSeek-Coder token(s) {', '.join(missing)}"
                         + (" (use --fim-rate 0, or --add-fim-tokens to add them)"
                            if fim_rate > 0 and ids.eos is not None else ""))


# Training text is fed to the library in pieces of about this many characters, cut after a newline.
# The DeepSeek-Coder pre-tokenizer isolates every \r and \n first, so the words (and the trained
# tokenizer) are exactly those of whole documents; but the library's pre-tokenization holds ~100
# bytes per byte of the text it is given, so a 50 MB sample fed whole took gigabytes.
TRAIN_CHUNK_CHARS = 1 << 16
# Version of the training sample's definition, recorded in the manifest (`options()`).
SAMPLE_VERSION = "seeded-documents/v1"


def line_chunks(text: str, size: int = TRAIN_CHUNK_CHARS) -> Iterator[str]:
    """`text` in consecutive pieces of at least `size` characters, each ending after a newline
    (the last one: at the end); a text without a newline past `size` is one piece."""
    if len(text) <= size:
        yield text
        return
    start = 0
    while start < len(text):
        cut = text.find("\n", start + size)
        stop = len(text) if cut < 0 else cut + 1
        yield text[start:stop]
        start = stop


def document_key(batch, names: list[str], shard: str, first_row: int) -> list[str]:
    """Each row's stable key: its sample_id (samples), repo/path (files), else SHARD#row. The FIM
    choice and the tokenizer sample are drawn from it, so they never depend on units or workers."""
    if "sample_id" in names:
        return batch.column("sample_id").to_pylist()
    if "repo" in names and "path" in names:
        return [f"{r}/{p}" for r, p in zip(batch.column("repo").to_pylist(), batch.column("path").to_pylist())]
    return [f"{shard}#{first_row + i}" for i in range(batch.num_rows)]


def _sample_draw(seed: int, key: str) -> float:
    """A document's uniform draw in [0, 1) for the tokenizer sample (seed and key only)."""
    digest = hashlib.blake2b(f"tokenizer-sample\x00{seed}\x00{key}".encode("utf-8", "surrogatepass"),
                             digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2 ** 64


def _unit_text_bytes(item: dict, column: str, pf: pq.ParquetFile) -> int:
    """Uncompressed bytes of the text column in a unit's row groups (Parquet metadata only)."""
    from stages.core.shards import unit_row_groups

    meta = pf.metadata
    index = pf.schema_arrow.names.index(column)
    groups = unit_row_groups(item)
    groups = range(meta.num_row_groups) if groups is None else groups
    return sum(meta.row_group(i).column(index).total_uncompressed_size for i in groups)


def sample_texts(units: list, max_bytes: int, seed: int, text_column: str | None,
                 chunked: bool = True) -> Iterator[str]:
    """The tokenizer's training sample, streamed: whole documents drawn with probability
    max_bytes / (text bytes of the input), each by a seeded draw from its key (`document_key`), in
    input order, until max_bytes are taken -- spread over the whole input, independent of how it is
    sharded or split into units. `chunked`: each document as `line_chunks` (what the trainer is fed)."""
    from stages.core.shards import iter_unit_batches

    readable = []
    total = 0
    for unit in units:
        item = unit.inputs[0]
        try:
            pf = pq.ParquetFile(item["path"])
            column = text_column_of(pf.schema_arrow.names, text_column, unit)
            require_columns(pf.schema_arrow, {column: "string"}, item["path"])
            total += _unit_text_bytes(item, column, pf)
        except Exception:  # noqa: BLE001 -- a corrupt or foreign shard is reported when it is tokenized
            continue
        readable.append((unit, item, column, pf.schema_arrow.names))
    rate = 1.0 if total <= max_bytes else max_bytes / total
    taken = 0
    for unit, item, column, names in readable:
        key_columns = [c for c in ("sample_id", "repo", "path") if c in names]
        first_row = int(item.get("rows", [0])[0])
        try:
            for batch in iter_unit_batches(item, columns=[column, *key_columns], max_bytes=1 << 22):
                keys = document_key(batch, key_columns, Path(item["path"]).stem, first_row)
                first_row += batch.num_rows
                for text, key in zip(batch.column(column).to_pylist(), keys):
                    if not text or (rate < 1.0 and _sample_draw(seed, key) >= rate):
                        continue
                    if taken >= max_bytes:
                        return
                    taken += len(text.encode("utf-8", "surrogatepass"))
                    if chunked:
                        yield from line_chunks(text)
                    else:
                        yield text
        except DscoderError:  # reported, with the reason, when the unit is tokenized
            continue


def text_column_of(names: list[str], wanted: str | None, unit) -> str:
    column = wanted or next((c for c in TEXT_COLUMNS if c in names), None)
    if column is None or column not in names:
        raise UsageError(f"no text column ({column or ' or '.join(TEXT_COLUMNS)}) in "
                         f"{unit.inputs[0]['path']}; columns: {names}")
    return column


def _train_into(config: TokenizeConfig, units: list, folder: Path, error_file: Path, threads: int) -> None:
    """Runs in a forked child, so the runner's process never starts the tokenizer's thread pool
    (a pool started before the workers fork would leave them single-threaded). The library counts
    words with `threads` threads (the run's --workers: a --workers 1 run uses one core)."""
    try:
        os.environ["RAYON_NUM_THREADS"] = str(max(1, threads))
        tok = train_bpe(sample_texts(units, config.tokenizer_sample_bytes, config.seed, config.text_column),
                        config.vocab_size)
        save_hf(tok, folder)
    except BaseException:  # noqa: BLE001 -- reported by the parent
        error_file.write_text(traceback.format_exc(), encoding="utf-8")
        os._exit(1)
    os._exit(0)


def provide_tokenizer(folder: Path, config: TokenizeConfig, units: list, tokenizer_sha: str | None,
                      log: Callable[[str], None], threads: int = 1) -> None:
    """Create OUTPUT/tokenizer/ (`folder`): copy `config.tokenizer`, or train one on `units`.

    Built under a temporary name and renamed (core.atomic.atomic_dir): a killed run leaves no half
    tokenizer, and of several ranks building it at once the first rename wins (all build the same
    bytes: training is deterministic). Only temporary folders untouched for an hour are a killed
    run's leftovers; younger ones may be another rank's, at work right now.
    """
    remove_stale_tmp_dirs(folder, STALE_TMP_SECONDS)
    with atomic_dir(folder, exist_ok=True) as tmp:
        if config.tokenizer is not None:
            copy_hf(config.tokenizer, tmp)
            if file_sha256(tmp / "tokenizer.json") != tokenizer_sha:
                raise UsageError(f"--tokenizer {config.tokenizer} changed while it was copied")
            if config.add_fim_tokens:
                added = add_fim_tokens(tmp)
                log(f"tokenize: added {', '.join(added)} to the tokenizer" if added else
                    "tokenize: the tokenizer has the FIM tokens already")
            return
        log(f"tokenize: training a byte-level BPE (vocab {config.vocab_size:,} + 22 added tokens) on up "
            f"to {config.tokenizer_sample_bytes / 1e6:,.0f} MB of documents drawn from {len(units)} units, "
            f"{threads} thread{'s' if threads > 1 else ''}")
        t0 = time.monotonic()
        error_file = tmp / "error.txt"
        child = multiprocessing.get_context("fork").Process(target=_train_into,
                                                            args=(config, units, tmp, error_file, threads))
        child.start()
        child.join()
        if child.exitcode != 0:
            detail = error_file.read_text() if error_file.exists() else f"exit code {child.exitcode}"
            raise DscoderError(f"tokenizer training failed: {detail.strip().splitlines()[-1]}")
        log(f"tokenize: tokenizer trained in {time.monotonic() - t0:.1f}s")
