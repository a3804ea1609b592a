"""The tokenize stage's settings: the one place their defaults and help texts live (docs/tokenize.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stages.core.config import check_ranges, option
from stages.core.errors import UsageError


# Byte-level BPE starts from one token per byte that occurs in UTF-8 text (256 less the 13 that never
# do): the smallest base vocabulary it can have (tokenizer.byte_level_alphabet; a test checks the two
# agree). Checked when the options are parsed, so a refused value never leaves an output behind.
BYTE_LEVEL_ALPHABET_SIZE = 243


@dataclass
class TokenizeConfig:
    input: Path = option(cli=False)
    tokenizer: Path | None = option(None, "Use this tokenizer.json or HuggingFace tokenizer folder (e.g. a "
                                    "released DeepSeek-Coder one).", flag="--tokenizer")
    train_tokenizer: bool = option(False, "Train a byte-level BPE on a sample of INPUT instead (the "
                                   "DeepSeek-Coder added tokens follow it).", flag="--train-tokenizer")
    add_fim_tokens: bool = option(False, "--tokenizer: add DeepSeek-Coder's FIM tokens (<｜fim▁hole｜>, "
                                  "<｜fim▁begin｜>, <｜fim▁end｜>) where it lacks them, after its last id "
                                  "(without them only --fim-rate 0 works).", flag="--add-fim-tokens")
    vocab_size: int = option(32000, "--train-tokenizer: base vocabulary size (added tokens start here); at least "
                             f"{BYTE_LEVEL_ALPHABET_SIZE}, the byte-level alphabet.", min=BYTE_LEVEL_ALPHABET_SIZE)
    tokenizer_sample_mb: float = option(1000.0, "--train-tokenizer: MB of input text to train on: whole "
                                        "documents drawn (seeded) across the input (memory: docs/tokenize.md"
                                        "#memory).", min=0, min_open=True)
    fim_rate: float = option(0.5, "Share of documents in fill-in-the-middle form (paper §3.2).", min=0, max=1)
    fim_spm_rate: float = option(0.0, "Share of the FIM documents in SPM instead of PSM order.", min=0, max=1)
    seed: int = option(0, "Seed of the FIM choices (with each document's id) and of the tokenizer sample.")
    text_column: str | None = option(None, "Column to tokenize [default: text, else content].", show=False)
    batch_size: int = option(512, "Documents per encode_batch call (memory per worker).", min=1)
    threads: int = option(1, "Tokenizer threads per worker process.", min=1)

    @property
    def tokenizer_sample_bytes(self) -> int:
        """UTF-8 bytes of input text the tokenizer is trained on."""
        return int(self.tokenizer_sample_mb * 1e6)

    def validate(self) -> None:
        if (self.tokenizer is None) == (not self.train_tokenizer):
            raise UsageError("give exactly one of --tokenizer PATH (use an existing tokenizer) and "
                             "--train-tokenizer (train one on the input)")
        if self.add_fim_tokens and self.tokenizer is None:
            raise UsageError("--add-fim-tokens adds tokens to a --tokenizer (a trained one has them)")
        check_ranges(self)
