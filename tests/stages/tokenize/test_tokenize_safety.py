"""Issue 16, tokenize: a full disk is not blamed on the input, --vocab-size is checked before any
output exists, wrong column types are one line."""

from __future__ import annotations

import errno
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from tokenize_helpers import small_tokenizer_dir, synthetic_texts, write_samples  # noqa: E402

from stages.tokenize.config import BYTE_LEVEL_ALPHABET_SIZE, TokenizeConfig  # noqa: E402
from stages.tokenize.indexed import IndexedDatasetWriter  # noqa: E402


def _errors(out: Path) -> str:
    return (out / "_dscoder/errors.jsonl").read_text()


def test_disk_full_while_writing_names_the_output_not_the_input(cli, tmp_path, monkeypatch):
    src = write_samples(tmp_path / "samples", [synthetic_texts(20, seed=1)])

    def full(self, tokens, lengths):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(IndexedDatasetWriter, "add_documents", full)
    out = tmp_path / "out"
    # A write error stops the run with one line naming the output file (the disk will not fill less
    # for the next shard); no input shard is blamed and no temporary file is left.
    r = cli("tokenize", src, out, "--tokenizer", small_tokenizer_dir(), expect=1)
    # (the .bin and .idx are written together: the message names the pair's file being closed)
    assert "no space left on device" in r.stderr.lower() and str(out / "part-00000.") in r.stderr
    assert str(src) not in r.stderr
    assert "CorruptShard" not in r.stderr and "cannot read Parquet" not in r.stderr and "Traceback" not in r.stderr
    assert not list(out.glob(".part-00000.*"))

    monkeypatch.undo()  # add_documents works again; break only the .idx write
    monkeypatch.setattr(IndexedDatasetWriter, "finalize", lambda self: (_ for _ in ()).throw(
        OSError(errno.EROFS, "Read-only file system")))
    r = cli("tokenize", src, out, "--tokenizer", small_tokenizer_dir(), expect=1)
    assert "read-only file system" in r.stderr.lower() and str(out / "part-00000.idx") in r.stderr
    assert "CorruptShard" not in r.stderr


def test_a_corrupt_input_is_still_corrupt(cli, tmp_path):
    src = write_samples(tmp_path / "samples", [synthetic_texts(5, seed=2)])
    data = (src / "part-00000.parquet").read_bytes()
    (src / "part-00000.parquet").write_bytes(data[:100] + b"\0" * 200 + data[300:])
    s = cli.json("tokenize", src, tmp_path / "out", "--tokenizer", small_tokenizer_dir(), expect=None)
    assert s["shards_failed"] == ["part-00000"]
    assert "CorruptShard" in _errors(tmp_path / "out")


def test_vocab_size_below_the_alphabet_is_refused_before_any_output(cli, tmp_path):
    src = write_samples(tmp_path / "samples", [synthetic_texts(30, seed=3)])
    out = tmp_path / "out"
    r = cli("tokenize", src, out, "--train-tokenizer", "--vocab-size", "10", expect=2)
    assert "--vocab-size" in r.stderr and f"must be at least {BYTE_LEVEL_ALPHABET_SIZE}, got 10" in r.stderr
    assert not out.exists()
    # The corrected command runs (it used to be refused as "options changed").
    s = cli.json("tokenize", src, out, "--train-tokenizer", "--vocab-size", "300", "--fim-rate", "0")
    assert s["shards_done"] == 1


def test_vocab_size_floor_is_the_byte_level_alphabet():
    from stages.tokenize.tokenizer import byte_level_alphabet
    assert BYTE_LEVEL_ALPHABET_SIZE == len(byte_level_alphabet())
    import pytest
    from stages.core.errors import UsageError
    with pytest.raises(UsageError, match="--vocab-size"):
        TokenizeConfig(input=Path("."), train_tokenizer=True, vocab_size=10).validate()


def test_wrong_column_types_are_one_line(cli, tmp_path):
    src = tmp_path / "samples"
    src.mkdir()
    pq.write_table(pa.table({"sample_id": ["a#0"], "text": [12345]}), src / "part-00000.parquet")
    pq.write_table(pa.table({"sample_id": [7], "text": ["x = 1\n"]}), src / "part-00001.parquet")
    s = cli.json("tokenize", src, tmp_path / "out", "--tokenizer", small_tokenizer_dir(), expect=None)
    assert s["shards_failed"] == ["part-00000", "part-00001"]
    errors = _errors(tmp_path / "out")
    assert f"column `text` in {src / 'part-00000.parquet'} is int64, expected string" in errors
    assert f"column `sample_id` in {src / 'part-00001.parquet'} is int64, expected string" in errors
