"""What bounds tokenize's memory without changing a single id (docs/tokenize.md#memory): the
training sample is whole documents drawn by key, fed to the trainer in newline-cut pieces; the piece
encoder splits a long document in newline-ended parts."""

from __future__ import annotations

import pyarrow.parquet as pq
from tokenizers import Tokenizer

import stages.core.shards as shards
import stages.tokenize.pieces as pieces
from stages.tokenize.tokenizer import line_chunks, sample_texts, text_encoder, train_bpe

from tokenize_helpers import TRICKY, samples_table, small_tokenizer_dir, stdlib_texts


def test_line_chunks_cut_after_newlines_only():
    text = "".join(f"line {i} " + "x" * (i % 7) + ("\r\n" if i % 5 == 0 else "\n") for i in range(500))
    parts = list(line_chunks(text, 100))
    assert "".join(parts) == text and len(parts) > 10
    assert all(p.endswith("\n") and len(p) >= 100 for p in parts[:-1])
    assert list(line_chunks("no newline at all " * 20, 10)) == ["no newline at all " * 20]
    assert list(line_chunks("short", 100)) == ["short"]


def test_training_on_newline_pieces_equals_training_on_whole_documents():
    """The pre-tokenizer isolates \\r and \\n first, so the words are the same: same tokenizer."""
    texts = stdlib_texts(30, offset=40) + TRICKY
    whole = train_bpe(texts, 500)
    cut = train_bpe((p for t in texts for p in line_chunks(t, 300)), 500)
    assert whole.to_str() == cut.to_str()
    assert sum(len(list(line_chunks(t, 300))) for t in texts) > 3 * len(texts)  # really cut


def test_piece_encoder_cuts_long_documents_with_the_same_ids(monkeypatch):
    tok = text_encoder(Tokenizer.from_file(str(small_tokenizer_dir() / "tokenizer.json")))
    encoder = pieces.piece_encoder(tok)
    assert isinstance(encoder, pieces.PieceEncoder)
    texts = ["".join(stdlib_texts(8, offset=60)), *TRICKY, "".join(stdlib_texts(3, offset=90)) + "tail"]
    expected = [e.ids for e in tok.encode_batch_fast(texts)]
    monkeypatch.setattr(pieces, "GROUP_CHARS", 2000)  # each long text cut in many parts
    assert max(len(t) for t in texts) > 20 * pieces.GROUP_CHARS
    assert encoder.encode(texts) == expected


def test_tokenizer_sample_is_whole_documents_independent_of_units(tmp_path, monkeypatch):
    texts = stdlib_texts(60, offset=10)
    folder = tmp_path / "samples"
    folder.mkdir()
    monkeypatch.setattr(shards, "ROW_GROUP_BYTES", 20_000)
    shards.write_shard(samples_table(texts), folder / "part-00000.parquet")
    assert pq.ParquetFile(folder / "part-00000.parquet").metadata.num_row_groups > 5
    total = sum(len(t.encode()) for t in texts)
    whole = shards.plan_units(folder, together=None)
    cut = shards.plan_units(folder, together=None, unit_bytes=40_000)
    assert len(whole) == 1 and len(cut) > 3
    a = list(sample_texts(whole, total // 3, 0, None, chunked=False))
    assert a == list(sample_texts(cut, total // 3, 0, None, chunked=False))
    assert set(a) <= set(texts) and 0 < len(a) < len(texts)  # whole documents, a share of them
    assert sum(len(t.encode()) for t in a) <= total // 3 + max(len(t.encode()) for t in texts)
    assert a != list(sample_texts(whole, total // 3, 1, None, chunked=False))  # the seed draws
    assert list(sample_texts(whole, 10 * total, 0, None, chunked=False)) == texts  # all, in order
    chunked = list(sample_texts(whole, 10 * total, 0, None))
    assert "".join(chunked) == "".join(texts)


def test_tokenizer_sample_skips_empty_documents(tmp_path):
    folder = tmp_path / "s"
    folder.mkdir()
    shards.write_shard(samples_table(["a\n", None, "", "b\n"]), folder / "part-00000.parquet")
    assert list(sample_texts(shards.plan_units(folder, together=None), 100, 0, "text")) == ["a\n", "b\n"]
