"""Stop-gap for dscoder_cli/commands/eval.py until it takes --overwrite from its own config; the
training commands build their options from stages/train/config.py."""

import typer

OVERWRITE = typer.Option(False, "--overwrite", help="Delete OUTPUT and start over.")
