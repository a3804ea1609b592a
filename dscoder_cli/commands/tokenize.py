"""`dscoder tokenize`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..app import app
from ..common import JSON_OUT, OVERWRITE, RANK, STRICT, WORKERS, WORLD, execute, guard


@app.command("tokenize")
def tokenize(
    input: Path = typer.Argument(..., help="Folder of `samples` (text) or `files` (content) shards."),
    output: Path = typer.Argument(..., help="Output folder: part-NNNNN.bin/.idx per input shard + tokenizer/."),
    tokenizer: Optional[Path] = typer.Option(None, "--tokenizer", help="Use this tokenizer.json or HuggingFace "
                                             "tokenizer folder (e.g. a released DeepSeek-Coder one)."),
    train_tokenizer: bool = typer.Option(False, "--train-tokenizer", help="Train a byte-level BPE on a sample "
                                         "of INPUT instead (the DeepSeek-Coder added tokens follow it)."),
    vocab_size: int = typer.Option(32000, help="--train-tokenizer: base vocabulary size (added tokens start here)."),
    tokenizer_sample_mb: float = typer.Option(1000.0, help="--train-tokenizer: MB of input text to train on, "
                                              "spread evenly over the shards."),
    fim_rate: float = typer.Option(0.5, help="Share of documents in fill-in-the-middle form (paper §3.2)."),
    fim_spm_rate: float = typer.Option(0.0, help="Share of the FIM documents in SPM instead of PSM order."),
    seed: int = typer.Option(0, help="Seed of the FIM choices (with each document's id) and of the tokenizer sample."),
    text_column: Optional[str] = typer.Option(None, help="Column to tokenize [default: text, else content]."),
    batch_size: int = typer.Option(512, min=1, help="Documents per encode_batch call (memory per worker)."),
    threads: int = typer.Option(1, min=1, help="Tokenizer threads per worker process."),
    tokenizer_only: bool = typer.Option(False, "--tokenizer-only", help="Only create OUTPUT/tokenizer/ "
                                        "(train or copy it), tokenize nothing; later runs with the same "
                                        "options use it. `dscoder submit` runs this once before the array."),
    workers: int = WORKERS, rank: Optional[int] = RANK, world_size: Optional[int] = WORLD,
    overwrite: bool = OVERWRITE, strict: bool = STRICT, as_json: bool = JSON_OUT,
) -> None:
    """Tokenize documents into Megatron indexed datasets, with document-level FIM (paper §3.1-3.2)."""
    from stages.tokenize.stage import TokenizeConfig, TokenizeStage

    def build():
        return TokenizeStage(TokenizeConfig(
            input=input, tokenizer=tokenizer, train_tokenizer=train_tokenizer, vocab_size=vocab_size,
            tokenizer_sample_bytes=int(tokenizer_sample_mb * 1e6), fim_rate=fim_rate,
            fim_spm_rate=fim_spm_rate, seed=seed, text_column=text_column, batch_size=batch_size,
            threads=threads))

    execute(guard(build), output, workers, rank, world_size, overwrite, strict, as_json,
            prepare_only=tokenizer_only)
