"""`dscoder export-hf`: a training checkpoint as a HuggingFace Llama checkpoint."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ..app import app


@app.command("export-hf")
def export_hf(
    checkpoint: Path = typer.Argument(..., help="A training OUTPUT (its newest checkpoint) or one checkpoint folder."),
    out: Path = typer.Argument(..., help="Folder to write: model safetensors, config.json, tokenizer."),
    dtype: str = typer.Option("bfloat16", help="Weights dtype: bfloat16, float32 or float16."),
) -> None:
    """Write a HuggingFace Llama checkpoint (loads with transformers.AutoModelForCausalLM) from any TP/PP checkpoint."""
    if dtype not in ("bfloat16", "float32", "float16"):
        print(f"dscoder: error: --dtype {dtype}: choose bfloat16, float32 or float16", file=sys.stderr)
        raise typer.Exit(2)
    from stages.train.hf_adapter import export_hf as run
    try:
        path = run(checkpoint, out, dtype)
    except FileNotFoundError as exc:
        print(f"dscoder: error: {exc}", file=sys.stderr)
        raise typer.Exit(2)
    print(f"wrote {path}")
