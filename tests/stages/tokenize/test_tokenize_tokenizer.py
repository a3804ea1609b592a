"""The tokenizer: the released DeepSeek-Coder id layout, the pre-tokenizer, HuggingFace loading."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from tokenize_helpers import (TRICKY, documents, load, small_tokenizer_dir, split_fim,  # noqa: E402
                              stdlib_texts, write_samples)

from stages.tokenize import fim  # noqa: E402
from stages.tokenize.tokenizer import (ADDED_TOKENS, CHAT_TEMPLATE, EOT, PLACEHOLDER,  # noqa: E402
                                       NON_UTF8_BYTE_CHARS, SYSTEM_PROMPT, text_encoder, train_bpe)

RELEASED_IDS = {"<｜begin▁of▁sentence｜>": 32013, "<｜end▁of▁sentence｜>": 32014, "<｜fim▁hole｜>": 32015,
                "<｜fim▁begin｜>": 32016, "<｜fim▁end｜>": 32017, "<pad>": 32018, "<|User|>": 32019,
                "<|Assistant|>": 32020, "<|EOT|>": 32021}


def test_vocab_32000_has_the_released_added_token_ids(cli, tmp_path):
    """Trained through the CLI at the paper's size: the corpus is too small for 32,000 merges, so
    the base vocabulary is completed with placeholders and the added tokens keep their ids."""
    src = write_samples(tmp_path / "samples", [stdlib_texts(40), stdlib_texts(40, offset=40)])
    t0 = time.monotonic()
    cli("tokenize", src, tmp_path / "out", "--train-tokenizer", "--vocab-size", "32000", "--fim-rate", "0")
    assert time.monotonic() - t0 < 30
    tok = load(tmp_path / "out/tokenizer")
    assert tok.get_vocab_size(with_added_tokens=True) == 32022
    assert {t: tok.token_to_id(t) for t in RELEASED_IDS} == RELEASED_IDS
    assert [tok.token_to_id(c) for c in NON_UTF8_BYTE_CHARS] == list(range(32000, 32013))
    assert tok.id_to_token(31999).startswith("<｜place▁holder▁no▁")
    spec = json.loads((tmp_path / "out/tokenizer/tokenizer.json").read_text())
    added = {a["id"]: a for a in spec["added_tokens"]}
    assert sorted(added) == list(range(32000, 32022))
    assert [i for i, a in added.items() if a["special"]] == [32013, 32014, 32021]
    assert tok.encode("1234", add_special_tokens=False).ids == [tok.token_to_id(d) for d in "1234"]
    assert tok.encode("x").ids[0] == 32013  # add_bos_token, like the release
    # tokens.bin holds ids of the trained base vocabulary only: below the placeholders.
    docs = documents(tmp_path / "out/part-00000")
    assert max(max(d[:-1]) for d in docs) < 32000 and all(d[-1] == 32014 for d in docs)


def test_small_vocab_layout_and_unreachable_placeholders():
    tok = train_bpe(["aaa bbb aaa bbb"] * 3, 300)  # far fewer merges than 300 - 243
    assert tok.get_vocab_size() == 322
    assert [tok.token_to_id(t) for t, _ in ADDED_TOKENS] == list(range(300, 322))
    placeholders = [i for i in range(300) if tok.id_to_token(i).startswith(PLACEHOLDER.split("{")[0])]
    assert placeholders and placeholders == list(range(placeholders[0], 300))
    ids = set(text_encoder(tok).encode(" ".join(TRICKY) * 3).ids)
    assert not ids & set(placeholders) and max(ids) < 300


def test_pre_tokenizer_splits_like_the_release():
    tok = load(small_tokenizer_dir())
    words = [w for w, _ in tok.pre_tokenizer.pre_tokenize_str("x=12 foo.bar(\r\n) 中文")]
    # `\s?\p{L}+`, `\s?\p{P}+`, single digits, [\r\n] alone, CJK runs split off (the splits apply in
    # sequence, so the CJK rule cuts " 中文" after the letter rule); byte-level alphabet (Ġ = space).
    assert words == ["x", "=", "1", "2", "Ġfoo", ".", "bar", "(", "č", "Ċ", ")", "Ġ", "ä¸Ńæĸĩ"]


def test_text_never_yields_control_ids():
    """Literal `<|EOT|>` or `ö` in a document is text to the stage's encoder, and decodes back."""
    tok = load(small_tokenizer_dir())
    enc = text_encoder(tok)
    for text in TRICKY:
        ids = enc.encode(text, add_special_tokens=False).ids
        assert max(ids) < 600 and tok.decode(ids, skip_special_tokens=False) == text
    assert tok.encode(EOT, add_special_tokens=False).ids == [621]  # the full tokenizer does match it


def test_transformers_loads_the_saved_tokenizer(tmp_path):
    from transformers import AutoTokenizer

    folder = small_tokenizer_dir()
    hf = AutoTokenizer.from_pretrained(str(folder))
    tok = load(folder)
    assert (hf.bos_token_id, hf.eos_token_id, hf.pad_token_id) == (613, 614, 614)
    assert hf.model_max_length == 16384 and len(hf) == 622
    for text in TRICKY:  # same ids as `tokenizers`; decodes the stage's ids to the text
        assert hf(text)["input_ids"] == tok.encode(text).ids
        assert hf.decode(text_encoder(tok).encode(text).ids) == text
    prompt = hf.apply_chat_template([{"role": "user", "content": "Write quicksort."}], tokenize=False,
                                    add_generation_prompt=True)
    assert prompt == f"<｜begin▁of▁sentence｜>{SYSTEM_PROMPT}### Instruction:\nWrite quicksort.\n### Response:"
    turns = [{"role": "system", "content": "S\n"}, {"role": "user", "content": "q"},
             {"role": "assistant", "content": "a"}]
    assert hf.apply_chat_template(turns, tokenize=False) == \
        "<｜begin▁of▁sentence｜>S\n### Instruction:\nq\n### Response:\na\n<|EOT|>\n"
    assert json.loads((folder / "tokenizer_config.json").read_text())["chat_template"] == CHAT_TEMPLATE


def test_released_style_tokenizer_folder_works_unchanged(cli, tmp_path):
    """A folder as released (tokenizer.json, tokenizer_config.json with LlamaTokenizerFast and its
    own chat template) is used and copied as it is; a bare tokenizer.json gets our config."""
    released = tmp_path / "deepseek-coder-tokenizer"
    released.mkdir()
    shutil.copy(small_tokenizer_dir() / "tokenizer.json", released)
    config = {"tokenizer_class": "LlamaTokenizerFast", "add_bos_token": True, "legacy": True,
              "bos_token": {"__type": "AddedToken", "content": "<｜begin▁of▁sentence｜>"},
              "eos_token": {"__type": "AddedToken", "content": "<|EOT|>"}, "chat_template": "{{ x }}"}
    (released / "tokenizer_config.json").write_text(json.dumps(config))
    src = write_samples(tmp_path / "samples", [TRICKY])
    cli("tokenize", src, tmp_path / "a", "--tokenizer", released, "--fim-rate", "0.5")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        assert (tmp_path / "a/tokenizer" / name).read_bytes() == (released / name).read_bytes()
    cli("tokenize", src, tmp_path / "b", "--tokenizer", released / "tokenizer.json", "--fim-rate", "0.5")
    assert (tmp_path / "b/part-00000.bin").read_bytes() == (tmp_path / "a/part-00000.bin").read_bytes()
    assert json.loads((tmp_path / "b/tokenizer/tokenizer_config.json").read_text())["chat_template"] == CHAT_TEMPLATE
    tok = load(tmp_path / "a/tokenizer")
    keys = pq.read_table(src / "part-00000.parquet")["sample_id"].to_pylist()
    for doc, text, key in zip(documents(tmp_path / "a/part-00000"), TRICKY, keys, strict=True):
        pieces = split_fim(doc, tok, fim.choose(0, key, len(text), 0.5, 0.0).mode)
        assert "".join(pieces.get(k, "") for k in ("text", "prefix", "middle", "suffix")) == text
    # The tokenizer file changing under a resumed run is an options change.
    spec = json.loads((released / "tokenizer.json").read_text())
    spec["added_tokens"][0]["lstrip"] = True
    (released / "tokenizer.json").write_text(json.dumps(spec))
    r = cli("tokenize", src, tmp_path / "a", "--tokenizer", released, "--fim-rate", "0.5", expect=2)
    assert "tokenizer.sha256" in r.stderr
