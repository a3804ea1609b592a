"""`dscoder export-hf`: a training checkpoint as a HuggingFace Llama checkpoint; options from
stages/train/config.py."""

from __future__ import annotations

from pathlib import Path

import typer

from stages.train.config import ExportHFOptions

from ..app import command
from ..options import config_options


@command("export-hf")
@config_options(ExportHFOptions, dest="settings")
def export_hf(
    checkpoint: Path = typer.Argument(..., help="A training OUTPUT (its newest checkpoint) or one checkpoint folder."),
    out: Path = typer.Argument(..., help="Folder to write: model safetensors, config.json, tokenizer."),
    settings: dict = None,
) -> None:
    """Write a HuggingFace Llama checkpoint (loads with transformers.AutoModelForCausalLM) from any TP/PP checkpoint."""
    from stages.train.hf_io import export_hf as run
    from stages.train.quiet import install

    install(settings.pop("verbose"))
    print(f"wrote {run(checkpoint, out, **settings)}")
