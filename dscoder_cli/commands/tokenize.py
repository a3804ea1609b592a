"""`dscoder tokenize`: options from stages/tokenize/config.py."""

from __future__ import annotations

from pathlib import Path

import typer

from stages.tokenize.config import TokenizeConfig

from ..app import command
from ..common import JSON_OUT, execute, run_options
from ..options import config_options


@command("tokenize")
@config_options(TokenizeConfig, dest="settings", exclude=("input",))
@run_options
def tokenize(
    input: Path = typer.Argument(..., help="Folder of `samples` (text) or `files` (content) shards."),
    output: Path = typer.Argument(..., help="Output folder: part-NNNNN.bin/.idx per input shard + tokenizer/."),
    tokenizer_only: bool = typer.Option(False, "--tokenizer-only", help="Only create OUTPUT/tokenizer/ "
                                        "(train or copy it), tokenize nothing; later runs with the same "
                                        "options use it. `dscoder submit` runs this once before the array."),
    as_json: bool = JSON_OUT, settings: dict = None, run: dict = None,
) -> None:
    """Tokenize documents into Megatron indexed datasets, with document-level FIM (paper §3.1-3.2)."""
    from stages.tokenize.stage import TokenizeStage

    execute(TokenizeStage(TokenizeConfig(input=input, **settings)), output, run, as_json,
            prepare_only=tokenizer_only)
