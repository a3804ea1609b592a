"""`dscoder filter`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..app import app
from ..common import JSON_OUT, OVERWRITE, RANK, STRICT, WORKERS, WORLD, execute, guard

@app.command("filter")
def filter_(
    input: Path = typer.Argument(..., help="Folder of `files` or `samples` shards."),
    output: Path = typer.Argument(..., help="Output folder for the kept rows."),
    rules: str = typer.Option("starcoder", help="Comma-separated rule sets to apply, in order."),
    max_avg_line_length: float = typer.Option(100, help="starcoder: drop if mean line length is above."),
    max_line_length: int = typer.Option(1000, help="starcoder: drop if the longest line is above."),
    min_alpha_fraction: float = typer.Option(0.25, help="starcoder: drop if fewer alphabetic characters."),
    xml_header_chars: int = typer.Option(100, help="starcoder: look for `<?xml version=` in this many "
                                         "leading characters (XSLT exempt)."),
    min_visible_text_ratio: float = typer.Option(0.2, help="starcoder: HTML kept only with this share "
                                                 "of visible text..."),
    min_visible_text_chars: int = typer.Option(100, help="starcoder: ...and at least this many visible characters."),
    json_yaml_min_chars: int = typer.Option(50, help="starcoder: JSON/YAML kept only from this many characters..."),
    json_yaml_max_chars: int = typer.Option(5000, help="starcoder: ...up to this many."),
    text_column: Optional[str] = typer.Option(None, help="Column to filter [default: content, else text]."),
    workers: int = WORKERS, rank: Optional[int] = RANK, world_size: Optional[int] = WORLD,
    overwrite: bool = OVERWRITE, strict: bool = STRICT, as_json: bool = JSON_OUT,
) -> None:
    """Filter rows by the paper's rules (§2.1: StarCoder's line, alphabetic, XML, HTML, JSON/YAML rules)."""
    from stages.filter.rules import StarCoderConfig
    from stages.filter.stage import FilterConfig, FilterStage

    def build():
        sc = StarCoderConfig(max_avg_line_length=max_avg_line_length, max_line_length=max_line_length,
                             min_alpha_fraction=min_alpha_fraction, xml_header_chars=xml_header_chars,
                             min_visible_text_ratio=min_visible_text_ratio,
                             min_visible_text_chars=min_visible_text_chars,
                             json_yaml_min_chars=json_yaml_min_chars, json_yaml_max_chars=json_yaml_max_chars)
        sets = tuple(r.strip() for r in rules.split(",") if r.strip())
        return FilterStage(FilterConfig(input=input, rule_sets=sets, starcoder=sc, text_column=text_column))

    execute(guard(build), output, workers, rank, world_size, overwrite, strict, as_json)
