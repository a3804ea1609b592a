"""`dscoder filter`: options from stages/filter/config.py."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from stages.filter.config import DECONTAM, DecontamConfig, FilterConfig, PiiConfig, QualityConfig, StarCoderConfig

from ..app import command
from ..common import JSON_OUT, execute, run_options
from ..options import config_options


@command("filter")
@config_options(FilterConfig, dest="settings", exclude=("input",))
@config_options(StarCoderConfig, dest="starcoder")
@config_options(QualityConfig, dest="quality")
@config_options(DecontamConfig, dest="decontam")
@config_options(PiiConfig, dest="pii")
@run_options
def filter_(
    input: Path = typer.Argument(..., help="Folder of `files` or `samples` shards."),
    output: Path = typer.Argument(..., help="Output folder for the kept rows."),
    decontam_file: Optional[List[str]] = typer.Option(None, help=DECONTAM + "another JSONL benchmark, as "
                                                      "PATH:field1,field2 (the test text fields); repeatable."),
    decontam_fields: Optional[str] = typer.Option(None, help=DECONTAM + "test text fields of --decontam-file "
                                                  "paths given without :fields."),
    as_json: bool = JSON_OUT, settings: dict = None, starcoder: dict = None, quality: dict = None,
    decontam: dict = None, pii: dict = None, run: dict = None,
) -> None:
    """Filter rows: the paper's rules (§2.1, StarCoder's), quality screening and benchmark
    decontamination (§2.4)."""
    from stages.core.benchmark_data import parse_file_spec
    from stages.filter.stage import FilterStage

    default_fields = tuple(f.strip() for f in (decontam_fields or "").split(",") if f.strip())
    files = tuple((str(path), fields) for path, fields in
                  (parse_file_spec(spec, default_fields) for spec in decontam_file or ()))
    config = FilterConfig(input=input, starcoder=StarCoderConfig(**starcoder), quality=QualityConfig(**quality),
                          decontam=DecontamConfig(**decontam, files=files), pii=PiiConfig(**pii), **settings)
    execute(FilterStage(config), output, run, as_json)
