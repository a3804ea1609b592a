"""`dscoder tokenize INPUT OUTPUT`: documents to Megatron indexed datasets (paper §3.1-3.2).

One unit per input shard: `part-N.parquet` (`samples`: `text`; `files`: `content`) becomes
`OUTPUT/part-N.bin` + `part-N.idx`, one document (= one sequence) per row, in row order, each ending
with `<｜end▁of▁sentence｜>`, a `fim_rate` share of them in FIM form (fim.py). The tokenizer, trained
here or loaded, is saved once in `OUTPUT/tokenizer/` before any shard is tokenized.

Rows whose text is null or empty go to `_rejected/` (reason `null_text` / `empty_text`). Done-markers
and stats.json count `tokens`, `documents` and the FIM documents per mode in their counters.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import random
import shutil
import socket
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from stages.core.atomic import TMP_MARK, atomic_path, remove_stale_tmp
from stages.core.errors import DscoderError, UsageError
from stages.core.shards import CorruptShard, check_shard_units, shard_units
from stages.core.stage import Stage, Unit, UnitResult

from . import fim
from .indexed import IndexedDatasetWriter, token_dtype
from .pieces import piece_encoder
from .tokenizer import (EOS, FIM_BEGIN, FIM_END, FIM_HOLE, SpecialIds, copy_hf, iter_limited,
                        resolve_tokenizer_file, save_hf, text_encoder, train_bpe)

TEXT_COLUMNS = ("text", "content")  # samples schema, files schema
TOKENIZER_DIR = "tokenizer"


@dataclass
class TokenizeConfig:
    input: Path
    tokenizer: Path | None = None  # an existing tokenizer.json or HF tokenizer folder...
    train_tokenizer: bool = False  # ...or train one on a sample of the input
    vocab_size: int = 32000  # base BPE vocabulary; the 22 added tokens follow it
    tokenizer_sample_bytes: int = 1_000_000_000  # UTF-8 bytes of input text to train on
    fim_rate: float = 0.5  # paper §3.2
    fim_spm_rate: float = 0.0  # share of FIM documents in SPM rather than PSM order
    seed: int = 0
    text_column: str | None = None  # None: `text` if present, else `content`
    batch_size: int = 512  # documents per encode_batch call
    threads: int = 1  # tokenizer threads per worker process

    def validate(self) -> None:
        if (self.tokenizer is None) == (not self.train_tokenizer):
            raise ValueError("give exactly one of --tokenizer PATH (use an existing tokenizer) and "
                             "--train-tokenizer (train one on the input)")
        for name in ("fim_rate", "fim_spm_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"--{name.replace('_', '-')} must be between 0 and 1")
        if self.batch_size < 1 or self.threads < 1:
            raise ValueError("--batch-size and --threads must be at least 1")
        if self.tokenizer_sample_bytes < 1:
            raise ValueError("--tokenizer-sample-mb must be positive")

# A temporary tokenizer folder older than this belongs to a killed run, not to a live rank.

STALE_TMP_SECONDS = 3600


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _check_special_tokens(ids: SpecialIds, fim_rate: float, where: str) -> None:
    missing = [EOS] if ids.eos is None else []
    if fim_rate > 0:
        missing += [t for t, i in ((FIM_BEGIN, ids.fim_begin), (FIM_HOLE, ids.fim_hole),
                                   (FIM_END, ids.fim_end)) if i is None]
    if missing:
        raise ValueError(f"{where} lacks the DeepSeek-Coder token(s) {', '.join(missing)}"
                         + (" (or use --fim-rate 0)" if fim_rate > 0 and ids.eos is not None else ""))


def sample_texts(units: list[Unit], max_bytes: int, seed: int, text_column: str | None):
    """The tokenizer's training sample, streamed: shards in a seeded order, at most
    max_bytes / n_shards from each, so the sample spreads over the whole input."""
    order = list(units)
    random.Random(seed).shuffle(order)
    per_shard = -(-max_bytes // max(len(order), 1))
    for unit in order:
        try:
            pf = pq.ParquetFile(unit.inputs[0]["path"])
        except Exception:  # noqa: BLE001 -- a corrupt shard is reported when it is tokenized
            continue
        column = _text_column(pf.schema_arrow.names, text_column, unit)
        texts = (t for b in pf.iter_batches(batch_size=256, columns=[column])
                 for t in b.column(0).to_pylist() if t)
        yield from iter_limited(texts, per_shard)


def _text_column(names: list[str], wanted: str | None, unit: Unit) -> str:
    column = wanted or next((c for c in TEXT_COLUMNS if c in names), None)
    if column is None or column not in names:
        raise ValueError(f"no text column ({column or ' or '.join(TEXT_COLUMNS)}) in "
                         f"{unit.inputs[0]['path']}; columns: {names}")
    return column


def _train_into(config: TokenizeConfig, units: list[Unit], folder: Path, error_file: Path) -> None:
    """Runs in a forked child, so the runner's process never starts the tokenizer's thread pool
    (a pool started before the workers fork would leave them single-threaded)."""
    try:
        tok = train_bpe(sample_texts(units, config.tokenizer_sample_bytes, config.seed, config.text_column),
                        config.vocab_size)
        save_hf(tok, folder)
    except BaseException:  # noqa: BLE001 -- reported by the parent
        error_file.write_text(traceback.format_exc(), encoding="utf-8")
        os._exit(1)
    os._exit(0)


class TokenizeStage(Stage):
    name = "tokenize"

    def __init__(self, config: TokenizeConfig):
        config.validate()
        self.config = config
        self.output: Path | None = None
        self.encoder = None
        self._tokenizer_sha = None
        if config.tokenizer is not None:
            from tokenizers import Tokenizer
            file = resolve_tokenizer_file(config.tokenizer)
            try:
                tok = Tokenizer.from_file(str(file))
            except Exception as exc:  # noqa: BLE001
                raise ValueError(f"--tokenizer {config.tokenizer}: cannot load {file} ({exc})") from exc
            _check_special_tokens(SpecialIds.of(tok), config.fim_rate, f"--tokenizer {config.tokenizer}")
            self._tokenizer_sha = _file_sha256(file)

    # -- the stage contract ------------------------------------------------------------------------

    def options(self) -> dict:
        c = self.config
        if c.tokenizer is not None:
            tokenizer = {"path": str(Path(c.tokenizer).resolve()), "sha256": self._tokenizer_sha}
        else:
            tokenizer = {"train": {"algorithm": "byte-level-bpe/v1", "vocab_size": c.vocab_size,
                                   "sample_bytes": c.tokenizer_sample_bytes}}
        return {"input": str(Path(c.input).resolve()), "text_column": c.text_column, "tokenizer": tokenizer,
                "fim": {"version": "fim/v1", "rate": c.fim_rate, "spm_rate": c.fim_spm_rate}, "seed": c.seed}

    def plan(self) -> list[Unit]:
        return shard_units(self.config.input)

    def check_units(self, units: list[Unit]) -> None:
        check_shard_units(self.config.input, units)
        self._units = units

    def prepare(self, output: Path) -> None:
        """Create OUTPUT/tokenizer/ once (train or copy), then load it for the workers."""
        from tokenizers import Tokenizer

        self.output = Path(output)
        folder = self.output / TOKENIZER_DIR
        if not (folder / "tokenizer.json").is_file():
            self._create_tokenizer_folder(folder)
        else:
            self.log(f"tokenize: using the tokenizer in {folder}")
        tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.ids = SpecialIds.of(tok)
        try:
            _check_special_tokens(self.ids, self.config.fim_rate, str(folder))
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        self.dtype = token_dtype(self.ids.vocab_size)
        self.encoder = piece_encoder(text_encoder(tok))  # exact; faster for the DeepSeek-Coder tokenizer
        self.log("tokenize: " + ("DeepSeek-Coder pre-tokenizer: pieces split in Python, each encoded once"
                                 if self.encoder.name == "pieces" else "encoding whole documents with the "
                                 "tokenizers library (not the DeepSeek-Coder pre-tokenizer)"))

    def _create_tokenizer_folder(self, folder: Path) -> None:
        """Build the folder under a temporary name and rename it: a killed run leaves no half
        tokenizer, and of several ranks building it at once the first rename wins (all build the
        same bytes: training is deterministic)."""
        tmp = folder.with_name(f".{folder.name}{TMP_MARK}{socket.gethostname()}-{os.getpid()}")
        # Other ranks (a Slurm array, other hosts) may be building theirs right now: only folders
        # untouched for an hour are a killed run's leftovers.
        for stale in folder.parent.glob(f".{folder.name}{TMP_MARK}*"):
            try:
                if time.time() - stale.stat().st_mtime > STALE_TMP_SECONDS:
                    shutil.rmtree(stale, ignore_errors=True)
            except OSError:
                pass
        tmp.mkdir(parents=True)
        try:
            if self.config.tokenizer is not None:
                copy_hf(self.config.tokenizer, tmp)
                if _file_sha256(tmp / "tokenizer.json") != self._tokenizer_sha:
                    raise UsageError(f"--tokenizer {self.config.tokenizer} changed while it was copied")
            else:
                units = getattr(self, "_units", None) or self.plan()
                c = self.config
                self.log(f"tokenize: training a byte-level BPE (vocab {c.vocab_size:,} + 22 added tokens) on up "
                         f"to {c.tokenizer_sample_bytes / 1e6:,.0f} MB of {len(units)} shards")
                t0 = time.monotonic()
                error_file = tmp / "error.txt"
                child = multiprocessing.get_context("fork").Process(
                    target=_train_into, args=(self.config, units, tmp, error_file))
                child.start()
                child.join()
                if child.exitcode != 0:
                    detail = error_file.read_text() if error_file.exists() else f"exit code {child.exitcode}"
                    raise DscoderError(f"tokenizer training failed: {detail.strip().splitlines()[-1]}")
                self.log(f"tokenize: tokenizer trained in {time.monotonic() - t0:.1f}s")
            for f in tmp.iterdir():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
            try:
                os.rename(tmp, folder)
            except OSError:
                if not (folder / "tokenizer.json").is_file():  # not another rank's: a real failure
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def process(self, unit: Unit) -> UnitResult:
        assert self.output is not None and self.encoder is not None, "prepare() was not called"
        self._set_threads()
        path = Path(unit.inputs[0]["path"])
        try:
            pf = pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as exc:
            raise CorruptShard(f"{path}: cannot read Parquet ({exc})") from exc
        names = pf.schema_arrow.names
        column = _text_column(names, self.config.text_column, unit)
        bin_path, idx_path = self.output / f"{unit.name}.bin", self.output / f"{unit.name}.idx"
        for p in (bin_path, idx_path):
            remove_stale_tmp(p)
        counters = {"documents": 0, "tokens": 0, "fim_psm": 0, "fim_spm": 0}
        rejected: list[pa.Table] = []
        rows_in = bytes_in = 0
        with atomic_path(bin_path) as tmp_bin, atomic_path(idx_path) as tmp_idx:
            with IndexedDatasetWriter(tmp_bin, tmp_idx, self.dtype) as writer:
                try:
                    batches = pf.iter_batches(batch_size=self.config.batch_size)
                    for batch in batches:
                        start = rows_in
                        rows_in += batch.num_rows
                        text = batch.column(column)
                        length = pc.binary_length(text)
                        bytes_in += int(pc.sum(length).as_py() or 0)
                        keep = pc.fill_null(pc.greater(length, 0), False)
                        if not pc.all(keep).as_py():
                            bad = pa.Table.from_batches([batch]).filter(pc.invert(keep))
                            reasons = ["null_text" if t is None else "empty_text" for t in bad[column].to_pylist()]
                            rejected.append(bad.append_column("reason", pa.array(reasons, pa.string())))
                            batch = batch.filter(keep)
                        keys = self._keys(batch, names, unit, start, keep)
                        tokens, lengths, modes = self.encode_documents(batch.column(column).to_pylist(), keys)
                        writer.add_documents(tokens, lengths)
                        if "lang" in names:  # tokens per language, for the report
                            for lang, n in zip(batch.column("lang").to_pylist(), lengths):
                                key = f"tokens:{lang}"
                                counters[key] = counters.get(key, 0) + int(n)
                        counters["fim_psm"] += modes[fim.PSM]
                        counters["fim_spm"] += modes[fim.SPM]
                except (pa.ArrowException, OSError) as exc:
                    raise CorruptShard(f"{path}: cannot read Parquet ({exc})") from exc
                writer.finalize()
                counters["documents"], counters["tokens"] = writer.documents, writer.tokens
        n_rejected = sum(t.num_rows for t in rejected)
        for t in rejected:
            for reason in t["reason"].to_pylist():
                counters[f"rejected:{reason}"] = counters.get(f"rejected:{reason}", 0) + 1
        return UnitResult(kept=None, rows_out=counters["documents"],
                          bytes_out=bin_path.stat().st_size + idx_path.stat().st_size,
                          rejected=pa.concat_tables(rejected) if n_rejected else None,
                          rows_in=rows_in, bytes_in=bytes_in, counters=counters)

    # -- the work ----------------------------------------------------------------------------------

    def _set_threads(self) -> None:
        # The tokenizers library reads these when it first encodes in a process. One thread: no thread
        # pool at all (encode_batch runs in the calling thread), the fastest per core.
        if self.config.threads == 1:
            os.environ["TOKENIZERS_PARALLELISM"] = "false"
        else:
            os.environ["RAYON_NUM_THREADS"] = str(self.config.threads)

    @staticmethod
    def _keys(batch: pa.RecordBatch, names: list[str], unit: Unit, start: int, keep) -> list[str]:
        """The FIM seed key of each document: sample_id (samples), repo/path (files), else its row."""
        if "sample_id" in names:
            return batch.column("sample_id").to_pylist()
        if "repo" in names and "path" in names:
            return [f"{r}/{p}" for r, p in zip(batch.column("repo").to_pylist(), batch.column("path").to_pylist())]
        rows = np.arange(start, start + len(keep))[np.asarray(keep.to_numpy(zero_copy_only=False), bool)]
        return [f"{unit.name}#{i}" for i in rows]

    def encode_documents(self, texts: list[str], keys: list[str]) -> tuple[np.ndarray, list[int], dict]:
        """Tokenize documents, FIM applied: (all tokens, each document's length, documents per mode).

        Every piece (whole text, or prefix/middle/suffix) is one entry of a single encoder call; the
        control ids are inserted between the pieces' ids afterwards.
        """
        c, ids = self.config, self.ids
        choices = [fim.choose(c.seed, k, len(t), c.fim_rate, c.fim_spm_rate) for t, k in zip(texts, keys)]
        pieces: list[str] = []
        for t, ch in zip(texts, choices):
            if ch.mode is fim.PLAIN:
                pieces.append(t)
            else:
                pieces += (t[:ch.start], t[ch.start:ch.end], t[ch.end:])
        encodings = self.encoder.encode(pieces)
        flat: list[int] = []
        lengths: list[int] = []
        modes = {fim.PLAIN: 0, fim.PSM: 0, fim.SPM: 0}
        eos, begin, hole, end = ids.eos, ids.fim_begin, ids.fim_hole, ids.fim_end
        i = 0
        for ch in choices:
            n0 = len(flat)
            modes[ch.mode] += 1
            if ch.mode is fim.PLAIN:
                flat += encodings[i]
                i += 1
            else:
                prefix, middle, suffix = encodings[i], encodings[i + 1], encodings[i + 2]
                i += 3
                if ch.mode is fim.PSM:  # <fim_begin> prefix <fim_hole> suffix <fim_end> middle
                    flat.append(begin)
                    flat += prefix
                    flat.append(hole)
                    flat += suffix
                    flat.append(end)
                    flat += middle
                else:  # SPM: <fim_begin> <fim_hole> suffix <fim_end> prefix middle
                    flat.append(begin)
                    flat.append(hole)
                    flat += suffix
                    flat.append(end)
                    flat += prefix
                    flat += middle
            flat.append(eos)
            lengths.append(len(flat) - n0)
        return np.array(flat, dtype=self.dtype), lengths, modes

