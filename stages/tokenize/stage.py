"""`dscoder tokenize INPUT OUTPUT`: documents to Megatron indexed datasets (paper §3.1-3.2).

One unit per input shard, or per run of its row groups (`plan_units`: a large shard keeps every
worker busy): the unit `part-N` (`samples`: `text`; `files`: `content`) becomes
`OUTPUT/part-N.bin` + `part-N.idx`, one document (= one sequence) per row, in row order, each ending
with `<｜end▁of▁sentence｜>`, a `fim_rate` share of them in FIM form (fim.py). The tokenizer, trained
here or loaded, is saved once in `OUTPUT/tokenizer/` before any shard is tokenized.

Rows whose text is null or empty go to `_rejected/` (reason `null_text` / `empty_text`). Done-markers
and stats.json count `tokens`, `documents` and the FIM documents per mode in their counters.

Memory per worker: the unit is read in batches of at most `batch_size` documents and BATCH_BYTES of
text, and the DeepSeek-Coder encoder cuts a long document into newline-ended pieces (pieces.py), so
a 50 MB sample is encoded without holding all of its pre-tokens at once.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from stages.core.atomic import atomic_path, remove_stale_tmp
from stages.core.errors import UsageError
from stages.core.shards import CorruptShard, check_shard_units, iter_unit_batches, plan_units, require_columns
from stages.core.stage import Stage, Unit, UnitResult

from . import fim
from .indexed import IndexedDatasetWriter, token_dtype
from .pieces import piece_encoder
from .config import TokenizeConfig
from .tokenizer import (SAMPLE_VERSION, SpecialIds, check_special_tokens, document_key, eos_name_of, file_sha256,
                        provide_tokenizer, resolve_tokenizer_file, text_column_of, text_encoder)

TOKENIZER_DIR = "tokenizer"
# Columns tokenize reads besides the text, when a shard has them (the FIM key, tokens per language).
OPTIONAL_COLUMNS = {"sample_id": "string", "repo": "string", "path": "string", "lang": "string"}
# Text a worker encodes at a time (with at most --batch-size documents); a larger document alone.
BATCH_BYTES = 4 << 20


def _write_error(exc: OSError, path: Path) -> OSError:
    """An OSError while writing `path` (disk full, read-only, quota), naming the output file: the
    input shard is fine and must not be reported as corrupt."""
    return OSError(exc.errno, exc.strerror or str(exc), str(path))


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
                raise UsageError(f"--tokenizer {config.tokenizer}: cannot load {file} ({exc})") from exc
            ids = SpecialIds.of(tok, eos_name_of(file.parent))
            check_special_tokens(ids, 0.0 if config.add_fim_tokens else config.fim_rate,
                                 f"--tokenizer {config.tokenizer}")
            self._tokenizer_sha = file_sha256(file)

    # -- the stage contract ------------------------------------------------------------------------

    def options(self) -> dict:
        c = self.config
        if c.tokenizer is not None:
            tokenizer = {"path": str(Path(c.tokenizer).resolve()), "sha256": self._tokenizer_sha}
            if c.add_fim_tokens:
                tokenizer["add_fim_tokens"] = True
        else:
            tokenizer = {"train": {"algorithm": "byte-level-bpe/v1", "vocab_size": c.vocab_size,
                                   "sample_bytes": c.tokenizer_sample_bytes, "sample": SAMPLE_VERSION}}
        return {"input": str(Path(c.input).resolve()), "text_column": c.text_column, "tokenizer": tokenizer,
                "fim": {"version": "fim/v1", "rate": c.fim_rate, "spm_rate": c.fim_spm_rate}, "seed": c.seed}

    def plan(self) -> list[Unit]:
        # Documents are independent: units may cut between the samples of one repository.
        return plan_units(self.config.input, together=None)

    def check_units(self, units: list[Unit]) -> None:
        check_shard_units(self.config.input, units)
        self._units = units

    def prepare(self, output: Path) -> None:
        """Create OUTPUT/tokenizer/ once (train or copy), then load it for the workers."""
        from tokenizers import Tokenizer

        self.output = Path(output)
        folder = self.output / TOKENIZER_DIR
        if not (folder / "tokenizer.json").is_file():
            provide_tokenizer(folder, self.config, getattr(self, "_units", None) or self.plan(), self._tokenizer_sha,
                              self.log, threads=self.workers)
        else:
            self.log(f"tokenize: using the tokenizer in {folder}")
        tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.ids = SpecialIds.of(tok, eos_name_of(folder))
        check_special_tokens(self.ids, self.config.fim_rate, str(folder))
        self.dtype = token_dtype(self.ids.vocab_size)
        self.encoder = piece_encoder(text_encoder(tok))  # exact; faster for the DeepSeek-Coder tokenizer
        self.log("tokenize: " + ("DeepSeek-Coder pre-tokenizer: pieces split in Python, each encoded once"
                                 if self.encoder.name == "pieces" else "encoding whole documents with the "
                                 "tokenizers library (not the DeepSeek-Coder pre-tokenizer)"))

    def process(self, unit: Unit) -> UnitResult:
        assert self.output is not None and self.encoder is not None, "prepare() was not called"
        self._set_threads()
        item = unit.inputs[0]
        path = Path(item["path"])
        try:
            pf = pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as exc:
            raise CorruptShard(f"{path}: cannot read Parquet ({exc})") from exc
        names = pf.schema_arrow.names
        column = text_column_of(names, self.config.text_column, unit)
        require_columns(pf.schema_arrow, {column: "string"}, path, OPTIONAL_COLUMNS)
        bin_path, idx_path = self.output / f"{unit.name}.bin", self.output / f"{unit.name}.idx"
        for p in (bin_path, idx_path):
            remove_stale_tmp(p)
        counters = {"documents": 0, "tokens": 0, "fim_psm": 0, "fim_spm": 0}
        rejected: list[pa.Table] = []
        rows_in = bytes_in = 0
        first_row = int(item.get("rows", [0])[0])  # the unit's first row in its shard: the FIM keys
        batches = self._batches(item)
        writing = bin_path
        try:
            with atomic_path(bin_path) as tmp_bin, atomic_path(idx_path) as tmp_idx:
                with IndexedDatasetWriter(tmp_bin, tmp_idx, self.dtype) as writer:
                    # Only reading the input can blame it (CorruptShard); an OSError while writing
                    # (ENOSPC, EROFS, EDQUOT) names the output file instead.
                    while (batch := self._next_batch(batches, path)) is not None:
                        start = first_row + rows_in
                        rows_in += batch.num_rows
                        text = batch.column(column)
                        length = pc.binary_length(text)
                        bytes_in += int(pc.sum(length).as_py() or 0)
                        keep = pc.fill_null(pc.greater(length, 0), False)
                        keys = document_key(batch, names, path.stem, start)
                        if not pc.all(keep).as_py():
                            bad = batch.filter(pc.invert(keep))
                            reasons = ["null_text" if t is None else "empty_text" for t in bad[column].to_pylist()]
                            rejected.append(bad.append_column("reason", pa.array(reasons, pa.string())))
                            keys = [k for k, ok in zip(keys, keep.to_pylist()) if ok]
                            batch = batch.filter(keep)
                        tokens, lengths, modes = self.encode_documents(batch.column(column).to_pylist(), keys)
                        writer.add_documents(tokens, lengths)
                        del tokens
                        if "lang" in names:  # tokens per language, for the report
                            for lang, n in zip(batch.column("lang").to_pylist(), lengths):
                                key = f"tokens:{lang}"
                                counters[key] = counters.get(key, 0) + int(n)
                        counters["fim_psm"] += modes[fim.PSM]
                        counters["fim_spm"] += modes[fim.SPM]
                    writing = idx_path
                    writer.finalize()
                    counters["documents"], counters["tokens"] = writer.documents, writer.tokens
        except OSError as exc:  # CorruptShard is no OSError: read errors pass through as they are
            raise _write_error(exc, writing) from exc
        n_rejected = sum(t.num_rows for t in rejected)
        for t in rejected:
            for reason in t["reason"].to_pylist():
                counters[f"rejected:{reason}"] = counters.get(f"rejected:{reason}", 0) + 1
        return UnitResult(kept=None, rows_out=counters["documents"],
                          bytes_out=bin_path.stat().st_size + idx_path.stat().st_size,
                          rejected=pa.concat_tables(rejected) if n_rejected else None,
                          rows_in=rows_in, bytes_in=bytes_in, counters=counters)

    # -- the work ----------------------------------------------------------------------------------

    def _batches(self, item: dict):
        """The unit's rows in tables of at most batch_size documents and BATCH_BYTES of text."""
        size = self.config.batch_size
        for table in iter_unit_batches(item, max_bytes=BATCH_BYTES):
            for start in range(0, table.num_rows, size):
                yield table.slice(start, size)

    @staticmethod
    def _next_batch(batches, path: Path) -> pa.Table | None:
        """The next record batch of the input shard, None at its end; a read error is CorruptShard."""
        try:
            return next(batches)
        except StopIteration:
            return None
        except (pa.ArrowException, OSError) as exc:
            raise CorruptShard(f"{path}: cannot read Parquet ({exc})") from exc

    def _set_threads(self) -> None:
        # The tokenizers library reads these when it first encodes in a process. One thread: no thread
        # pool at all (encode_batch runs in the calling thread), the fastest per core.
        if self.config.threads == 1:
            os.environ["TOKENIZERS_PARALLELISM"] = "false"
        else:
            os.environ["RAYON_NUM_THREADS"] = str(self.config.threads)

    def encode_documents(self, texts: list[str], keys: list[str]) -> tuple[np.ndarray, list[int], dict]:
        """Tokenize documents, FIM applied: (all tokens, each document's length, documents per mode).

        Every piece (whole text, or prefix/middle/suffix) is one entry of a single encoder call;
        fim.layout puts the control ids between the pieces' ids.
        """
        c = self.config
        choices = [fim.choose(c.seed, k, len(t), c.fim_rate, c.fim_spm_rate) for t, k in zip(texts, keys)]
        encodings = self.encoder.encode(fim.pieces(texts, choices))
        flat, lengths, modes = fim.layout(choices, encodings, self.ids)
        return np.array(flat, dtype=self.dtype), lengths, modes
