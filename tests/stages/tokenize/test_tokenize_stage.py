"""`dscoder tokenize`: round trips, FIM, determinism, the stage contract. Decoded tokens are checked
against the source text document by document, as Megatron-LM's own indexed-dataset test does."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from tokenize_helpers import (TRICKY, documents, load, small_tokenizer_dir, split_fim,  # noqa: E402
                              stdlib_texts, synthetic_texts, write_samples)

from conftest import write_files_shards  # noqa: E402
from stages.tokenize import fim  # noqa: E402


def test_no_fim_every_document_decodes_to_its_text(cli, tmp_path):
    texts = [stdlib_texts(12, offset=60) + TRICKY, stdlib_texts(9, offset=75)]
    src = write_samples(tmp_path / "samples", texts)
    out = tmp_path / "out"
    s = cli.json("tokenize", src, out, "--tokenizer", small_tokenizer_dir(), "--fim-rate", "0", "--batch-size", 4)
    tok = load(out / "tokenizer")
    assert s["rows_in"] == s["rows_kept"] == sum(map(len, texts)) and s["rows_rejected"] == 0
    total = 0
    for i, shard_texts in enumerate(texts):
        docs = documents(out / f"part-{i:05d}")
        assert len(docs) == len(shard_texts)
        for doc, text in zip(docs, shard_texts):
            assert split_fim(doc, tok, "plain")["text"] == text
            total += len(doc)
    # Token counts: per shard in the done-markers, merged in stats.json.
    stats = json.loads((out / "_dscoder/stats.json").read_text())
    marker = json.loads((out / "_dscoder/done/part-00000.json").read_text())
    assert marker["counters"]["tokens"] == sum(len(d) for d in documents(out / "part-00000"))
    assert stats["counters"]["tokens"] == s["counters"]["tokens"] == total
    assert stats["counters"]["documents"] == sum(map(len, texts))
    # uint16 on disk: 2 bytes a token.
    assert (out / "part-00000.bin").stat().st_size == 2 * marker["counters"]["tokens"]


@pytest.mark.parametrize("spm_rate", [0.0, 0.5])
def test_fim_documents_reassemble(cli, tmp_path, spm_rate):
    texts = stdlib_texts(20, offset=85) + TRICKY
    src = write_samples(tmp_path / "samples", [texts])
    out = tmp_path / "out"
    s = cli.json("tokenize", src, out, "--tokenizer", small_tokenizer_dir(), "--fim-rate", "0.7",
                 "--fim-spm-rate", spm_rate, "--seed", "7")
    tok = load(out / "tokenizer")
    keys = pq.read_table(src / "part-00000.parquet")["sample_id"].to_pylist()
    seen = {"plain": 0, "psm": 0, "spm": 0}
    for doc, text, key in zip(documents(out / "part-00000"), texts, keys):
        choice = fim.choose(7, key, len(text), 0.7, spm_rate)
        seen[choice.mode] += 1
        pieces = split_fim(doc, tok, choice.mode)
        if choice.mode == "plain":
            assert pieces["text"] == text
        elif choice.mode == "psm":
            assert pieces["prefix"] + pieces["middle"] + pieces["suffix"] == text
            assert pieces["middle"] == text[choice.start:choice.end]  # split at the chosen characters
        else:
            assert pieces["prefix_middle"] + pieces["suffix"] == text
            assert pieces["suffix"] == text[choice.end:]
    assert seen["psm"] > 0 and seen["plain"] > 0 and (seen["spm"] > 0) == (spm_rate > 0)
    assert s["counters"]["fim_psm"] == seen["psm"] and s["counters"]["fim_spm"] == seen["spm"]


def test_fim_share_close_to_rate_on_1000_documents():
    """Binomial(1000, 0.5): sd 15.8; 4 sd either side. Split points cover the whole range."""
    n = 1000
    choices = [fim.choose(0, f"repo{i}#0", 100, 0.5, 0.0) for i in range(n)]
    share = sum(c.mode == fim.PSM for c in choices) / n
    assert abs(share - 0.5) < 0.064
    spm = [fim.choose(0, f"repo{i}#0", 100, 1.0, 0.25).mode for i in range(n)]
    assert abs(spm.count(fim.SPM) / n - 0.25) < 0.055 and fim.PLAIN not in spm
    starts = [c.start for c in choices if c.mode != fim.PLAIN]
    ends = [c.end for c in choices if c.mode != fim.PLAIN]
    assert min(starts) == 0 and max(ends) == 100 and all(s <= e for s, e in zip(starts, ends))
    # Seeded by --seed and the document key only.
    assert choices == [fim.choose(0, f"repo{i}#0", 100, 0.5, 0.0) for i in range(n)]
    assert choices != [fim.choose(1, f"repo{i}#0", 100, 0.5, 0.0) for i in range(n)]


def test_fim_share_in_the_stage_output(cli, tmp_path):
    src = write_samples(tmp_path / "samples", [synthetic_texts(500, 1), synthetic_texts(500, 2)])
    s = cli.json("tokenize", src, tmp_path / "out", "--tokenizer", small_tokenizer_dir(), "--workers", "2")
    assert s["counters"]["documents"] == 1000
    assert abs(s["counters"]["fim_psm"] / 1000 - 0.5) < 0.064 and s["counters"]["fim_spm"] == 0


def test_rerun_workers_and_ranks_give_identical_files(cli, tmp_path):
    src = write_samples(tmp_path / "samples", [synthetic_texts(40, s) for s in range(4)])
    tok = small_tokenizer_dir()
    cli("tokenize", src, tmp_path / "a", "--tokenizer", tok)
    cli("tokenize", src, tmp_path / "b", "--tokenizer", tok, "--workers", "2", "--batch-size", "7")
    for rank in range(3):
        cli("tokenize", src, tmp_path / "c", "--tokenizer", tok, "--rank", rank, "--world-size", 3)
    for name in [f"part-{i:05d}.{ext}" for i in range(4) for ext in ("bin", "idx")]:
        a = (tmp_path / "a" / name).read_bytes()
        assert a == (tmp_path / "b" / name).read_bytes() == (tmp_path / "c" / name).read_bytes(), name
    assert (tmp_path / "a/tokenizer/tokenizer.json").read_bytes() == (tmp_path / "c/tokenizer/tokenizer.json").read_bytes()
    again = cli.json("tokenize", src, tmp_path / "a", "--tokenizer", tok)
    assert again["this_run"]["shards_skipped"] == 4


def test_trained_tokenizer_is_deterministic_and_in_output(cli, tmp_path):
    src = write_samples(tmp_path / "samples", [stdlib_texts(15, offset=105), stdlib_texts(15, offset=120)])
    args = ["--train-tokenizer", "--vocab-size", "400", "--tokenizer-sample-mb", "0.3"]
    a = cli.json("tokenize", src, tmp_path / "a", *args)
    cli("tokenize", src, tmp_path / "b", *args, "--workers", "2")
    ta, tb = (tmp_path / x / "tokenizer/tokenizer.json" for x in "ab")
    assert ta.read_bytes() == tb.read_bytes()
    assert (tmp_path / "a/part-00001.bin").read_bytes() == (tmp_path / "b/part-00001.bin").read_bytes()
    assert load(tmp_path / "a/tokenizer").get_vocab_size() == 422
    assert a["counters"]["tokens"] > 0
    r = cli("tokenize", src, tmp_path / "a", *args[:-1], "0.5", expect=2)
    assert "tokenizer.train.sample_bytes: 300000 -> 500000" in r.stderr


def test_tokenizer_only_then_the_run_uses_it(cli, tmp_path):
    """What `dscoder submit tokenize --train-tokenizer` does: one job trains, the array reuses."""
    src = write_samples(tmp_path / "samples", [stdlib_texts(10, offset=105), stdlib_texts(10, offset=120)])
    args = ["--train-tokenizer", "--vocab-size", "400", "--tokenizer-sample-mb", "0.3"]
    first = cli("tokenize", src, tmp_path / "a", *args, "--tokenizer-only")
    assert "training a byte-level BPE" in first.stderr
    assert (tmp_path / "a/tokenizer/tokenizer.json").is_file() and not list((tmp_path / "a").glob("part-*"))
    trained = (tmp_path / "a/tokenizer/tokenizer.json").stat().st_mtime_ns
    second = cli("tokenize", src, tmp_path / "a", *args, "--workers", "2")
    assert "training" not in second.stderr and "using the tokenizer in" in second.stderr
    assert (tmp_path / "a/tokenizer/tokenizer.json").stat().st_mtime_ns == trained
    cli("tokenize", src, tmp_path / "b", *args)  # in one go
    for name in ["tokenizer/tokenizer.json"] + [f"part-0000{i}.{e}" for i in range(2) for e in ("bin", "idx")]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_files_shards_use_content_and_repo_path_keys(cli, tmp_path):
    src = write_files_shards(tmp_path / "files", n_shards=2, rows_per_shard=30)
    out = tmp_path / "out"
    cli("tokenize", src, out, "--tokenizer", small_tokenizer_dir(), "--fim-rate", "0.5", "--seed", "3")
    tok = load(out / "tokenizer")
    table = pq.read_table(src / "part-00001.parquet")
    for doc, row in zip(documents(out / "part-00001"), table.to_pylist()):
        choice = fim.choose(3, f"{row['repo']}/{row['path']}", len(row["content"]), 0.5, 0.0)
        pieces = split_fim(doc, tok, choice.mode)
        assert "".join(pieces[k] for k in ("text", "prefix", "middle", "suffix") if k in pieces) == row["content"]


def test_null_and_empty_texts_rejected_with_reason(cli, tmp_path):
    src = write_samples(tmp_path / "samples", [["a = 1\n", None, "", "b = 2\n"]])
    out = tmp_path / "out"
    s = cli.json("tokenize", src, out, "--tokenizer", small_tokenizer_dir(), "--fim-rate", "0")
    assert s["rows_in"] == 4 and s["rows_kept"] == 2 and s["rows_rejected"] == 2
    rejected = pq.read_table(out / "_rejected/part-00000.parquet")
    assert rejected["reason"].to_pylist() == ["null_text", "empty_text"]
    assert s["counters"]["rejected:null_text"] == 1 and s["counters"]["rejected:empty_text"] == 1
    tok = load(out / "tokenizer")
    assert [split_fim(d, tok, "plain")["text"] for d in documents(out / "part-00000")] == ["a = 1\n", "b = 2\n"]


def test_usage_errors(cli, tmp_path):
    src = write_samples(tmp_path / "samples", [["x = 1\n"]])
    assert "exactly one of" in cli("tokenize", src, tmp_path / "o", expect=2).stderr
    r = cli("tokenize", src, tmp_path / "o", "--train-tokenizer", "--tokenizer", small_tokenizer_dir(), expect=2)
    assert "exactly one of" in r.stderr
    assert "between 0 and 1" in cli("tokenize", src, tmp_path / "o", "--train-tokenizer", "--fim-rate", "1.5",
                                    expect=2).stderr
    assert "no tokenizer.json" in cli("tokenize", src, tmp_path / "o", "--tokenizer", tmp_path, expect=2).stderr
    # A tokenizer without the FIM tokens: refused unless FIM is off.
    from tokenizers import Tokenizer, models, pre_tokenizers
    plain = Tokenizer(models.BPE(vocab={"<｜end▁of▁sentence｜>": 0, "x": 1}, merges=[]))
    plain.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    plain.save(str(tmp_path / "plain.json"))
    r = cli("tokenize", src, tmp_path / "o", "--tokenizer", tmp_path / "plain.json", expect=2)
    assert "<｜fim▁begin｜>" in r.stderr and "--fim-rate 0" in r.stderr
    assert not (tmp_path / "o").exists()


def test_corrupt_shard_reported_rest_done(cli, tmp_path):
    src = write_samples(tmp_path / "samples", [synthetic_texts(5, s) for s in range(3)])
    (src / "part-00001.parquet").write_bytes(b"PAR1 not parquet at all")
    out = tmp_path / "out"
    s = cli.json("tokenize", src, out, "--tokenizer", small_tokenizer_dir(), expect=1)  # a failed unit: exit 1
    assert s["shards_done"] == 2 and s["shards_failed"] == ["part-00001"]
    assert not (out / "part-00001.bin").exists() and not list(out.glob(".*tmp-*"))
    errors = (out / "_dscoder/errors.jsonl").read_text()
    assert "part-00001.parquet" in errors and "Parquet" in errors
