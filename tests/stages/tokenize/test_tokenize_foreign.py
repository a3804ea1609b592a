"""tokenize with a tokenizer that is not DeepSeek-Coder's (GPT-2 style: eos <|endoftext|>, no FIM
tokens): accepted with --fim-rate 0; with FIM, refused unless --add-fim-tokens adds the three tokens."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from tokenize_helpers import documents, load, synthetic_texts, write_samples  # noqa: E402

FIM = ["<｜fim▁hole｜>", "<｜fim▁begin｜>", "<｜fim▁end｜>"]


def gpt2_style(folder: Path, texts: list[str]) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>"],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    folder.mkdir(parents=True)
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({"eos_token": "<|endoftext|>",
                                                              "bos_token": "<|endoftext|>"}))
    return folder


def test_foreign_tokenizer_fim_rate_0_and_add_fim_tokens(cli, tmp_path):
    texts = synthetic_texts(60, 3)
    src = write_samples(tmp_path / "samples", [texts[:30], texts[30:]])
    tok_dir = gpt2_style(tmp_path / "gpt2", texts)
    from tokenizers import Tokenizer
    n = Tokenizer.from_file(str(tok_dir / "tokenizer.json")).get_vocab_size(with_added_tokens=True)
    eos = Tokenizer.from_file(str(tok_dir / "tokenizer.json")).token_to_id("<|endoftext|>")

    refused = cli("tokenize", src, tmp_path / "refused", "--tokenizer", tok_dir, expect=2)
    assert "--add-fim-tokens" in refused.stderr and "fim▁begin" in refused.stderr

    cli("tokenize", src, tmp_path / "plain", "--tokenizer", tok_dir, "--fim-rate", 0)
    docs = documents(tmp_path / "plain" / "part-00000")
    assert len(docs) == 30 and all(d[-1] == eos for d in docs)        # its own eos ends each document
    assert max(max(d) for d in docs) < n

    cli("tokenize", src, tmp_path / "fim", "--tokenizer", tok_dir, "--add-fim-tokens", "--fim-rate", 1)
    tok = load(tmp_path / "fim" / "tokenizer")
    assert [tok.token_to_id(t) for t in FIM] == [n, n + 1, n + 2]
    assert tok.token_to_id("<|endoftext|>") == eos                     # the original ids unchanged
    docs = documents(tmp_path / "fim" / "part-00000")
    assert all(n + 1 in d and n in d and n + 2 in d for d in docs)      # every document in FIM form
    stats = json.loads((tmp_path / "fim" / "_dscoder" / "stats.json").read_text())
    assert stats["counters"]["fim_psm"] == 60
    assert cli("tokenize", src, tmp_path / "bad", "--train-tokenizer", "--add-fim-tokens", expect=2)
