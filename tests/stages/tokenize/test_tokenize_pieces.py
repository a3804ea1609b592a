"""The piece encoder (stages/tokenize/pieces.py) gives the `tokenizers` library's ids exactly, and is
used only where it can: the library's own encode is the reference in every test."""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from tokenize_helpers import TRICKY, load, small_tokenizer_dir, stdlib_texts  # noqa: E402

from stages.tokenize import pieces  # noqa: E402
from stages.tokenize.pieces import (LibraryEncoder, PieceEncoder, check_split, piece_encoder,  # noqa: E402
                                    probe_text, split_pieces)
from stages.tokenize.tokenizer import text_encoder  # noqa: E402


@pytest.fixture(scope="module")
def encoder():
    return text_encoder(load(small_tokenizer_dir()))


def library(tok, texts):
    return [e.ids for e in tok.encode_batch_fast(texts, add_special_tokens=False)]


def random_texts(n: int, seed: int) -> list[str]:
    """Random mixes of ASCII, Unicode whitespace, CJK-range letters and punctuation, digits of other
    scripts, combining marks, emoji and line breaks: every class boundary the pre-tokenizer has."""
    rng = random.Random(seed)
    alphabet = ([chr(i) for i in range(128)] * 8 + list(" \t\r\n") * 40
                + [chr(i) for i in range(0x80, 0x3100, 7)]
                + list("中文한국어コード\u3000\u00a0\u2028\u0085\u0663\u0967e\u0301🐍✓《》（）＄１"))
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400))) for _ in range(n)]


def test_chosen_for_the_deepseek_coder_tokenizer(encoder):
    from tokenizers import Tokenizer, normalizers
    assert isinstance(piece_encoder(encoder), PieceEncoder)
    empty = Tokenizer.from_str(encoder.to_str())  # some tokenizer.json files spell "none" this way
    empty.normalizer = normalizers.Sequence([])
    assert isinstance(piece_encoder(empty), PieceEncoder)
    assert piece_encoder(empty).encode(TRICKY) == library(empty, TRICKY)


def test_equals_the_library_on_real_code(encoder):
    texts = stdlib_texts(150) + TRICKY
    ours = PieceEncoder(encoder).encode(texts)
    assert ours == library(encoder, texts)
    assert sum(map(len, ours)) > 100_000  # real work, not an empty corpus


def test_equals_the_library_on_random_unicode(encoder):
    texts = random_texts(1500, seed=1)
    assert sum(not t.isascii() for t in texts) > 1000
    assert PieceEncoder(encoder).encode(texts) == library(encoder, texts)


def test_equals_the_library_on_every_ascii_context(encoder):
    texts = [probe_text(seed) for seed in range(1, 6)]
    assert PieceEncoder(encoder).encode(texts) == library(encoder, texts)
    assert check_split(encoder)


def test_the_split_is_the_pre_tokenizers_split(encoder):
    text = "x=12 foo.bar(\r\n) \t$y+=z  ;\x0b\x0c\x1f~"
    assert split_pieces(text) == ["x", "=", "1", "2", " foo", ".", "bar", "(", "\r", "\n", ")", " \t$",
                                  "y", "+=", "z", " ", " ;", "\x0b\x0c\x1f~"]
    assert len(encoder.pre_tokenizer.pre_tokenize_str(text)) == 18 and check_split(encoder, text)
    # A line with non-ASCII text is left whole for the library; its neighbours are still split.
    assert split_pieces("a b\nçé x\n") == ["a", " b", "\n", "çé x", "\n"]


def test_bounded_cache_gives_the_same_ids(encoder):
    texts = stdlib_texts(40)
    small = PieceEncoder(encoder, max_cached=500)
    ours = [ids for i in range(0, len(texts), 4) for ids in small.encode(texts[i:i + 4])]
    assert ours == library(encoder, texts)
    # Never more than the bound plus one batch's own distinct pieces.
    assert len(small.cache) <= 500 + max(len(set(split_pieces("".join(texts[i:i + 4]))))
                                         for i in range(0, len(texts), 4))


def test_other_pre_tokenizers_use_the_library(encoder):
    from tokenizers import normalizers, pre_tokenizers
    from tokenizers import Tokenizer
    gpt2 = Tokenizer.from_str(encoder.to_str())
    gpt2.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    lowered = Tokenizer.from_str(encoder.to_str())
    lowered.normalizer = normalizers.Lowercase()
    for tok in (gpt2, lowered):
        enc = piece_encoder(tok)
        assert isinstance(enc, LibraryEncoder)
        assert enc.encode(TRICKY) == library(tok, TRICKY)


def test_a_split_that_disagrees_with_the_library_is_not_used(encoder, monkeypatch):
    """If a tokenizers release changed a character class, the self-check falls back to the library."""
    wrong = pieces.ASCII_PIECE.pattern.replace(r"!\"#%", r"!\"#$%", 1)  # `$` as punctuation: it is not
    assert wrong != pieces.ASCII_PIECE.pattern
    monkeypatch.setattr(pieces, "ASCII_PIECE", re.compile(wrong))
    assert not check_split(encoder)
    assert isinstance(piece_encoder(encoder), LibraryEncoder)

