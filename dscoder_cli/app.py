"""The `dscoder` command: a thin mapping from options to each stage's config (no logic here)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer

from . import __version__
from .runtime.errors import DscoderError, UsageError
from .runtime.progress import default_reporter
from .runtime.runner import RunOptions, StrictFailure, run_stage
from .summary import print_json, print_summary

app = typer.Typer(
    help="The DeepSeek-Coder recipe (arXiv 2401.14196) as one toolchain. "
         "Every stage is `dscoder STAGE INPUT OUTPUT [options]` and can be resumed by re-running it.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def _version(value: bool) -> None:
    if value:
        print(f"dscoder {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    pass


# Options every data stage shares (DESIGN.md section 3).
WORKERS = typer.Option(1, "--workers", "-w", min=1, help="Processes on this machine.")
RANK = typer.Option(None, "--rank", min=0, help="This task's rank [default: $SLURM_ARRAY_TASK_ID or 0].")
WORLD = typer.Option(None, "--world-size", min=1,
                     help="Number of tasks sharing the shards [default: $SLURM_ARRAY_TASK_COUNT or 1].")
OVERWRITE = typer.Option(False, "--overwrite", help="Delete OUTPUT and start over.")
STRICT = typer.Option(False, "--strict", help="Exit 1 if any shard failed or any error was reported.")
JSON_OUT = typer.Option(False, "--json", help="Print the summary as JSON on stdout.")


def _execute(stage, output: Path, workers, rank, world_size, overwrite, strict, as_json) -> None:
    run = RunOptions(output=output, workers=workers, rank=rank, world_size=world_size,
                     overwrite=overwrite, strict=strict, reporter=default_reporter())
    try:
        summary = run_stage(stage, run)
    except StrictFailure as exc:
        (print_json if as_json else print_summary)(exc.summary)
        _fail(exc)
    except DscoderError as exc:
        _fail(exc)
    (print_json if as_json else print_summary)(summary)


def _fail(exc: DscoderError):
    print(f"dscoder: error: {exc}", file=sys.stderr)
    raise typer.Exit(exc.exit_code)


def _guard(build):
    """Build a stage config; a ValueError/UsageError from options is a usage error (exit 2)."""
    try:
        return build()
    except (ValueError, UsageError) as exc:
        print(f"dscoder: error: {exc}", file=sys.stderr)
        raise typer.Exit(2)


@app.command()
def crawl(
    source: str = typer.Argument(..., help="A folder of repositories (or one repository), a text file "
                                 "with one git URL or path per line, a git URL, or github:QUERY."),
    output: Path = typer.Argument(..., help="Output folder for `files` shards."),
    max_file_size: int = typer.Option(1 << 20, help="Skip files larger than this many bytes."),
    languages: Optional[str] = typer.Option(None, help="Comma-separated languages to keep "
                                            "[default: all 87 of the paper's Table 1]."),
    shard_size: float = typer.Option(256.0, help="Target shard size in MB (repositories never split)."),
    clone_timeout: float = typer.Option(600.0, help="Seconds before a git clone is abandoned."),
    github_api_url: str = typer.Option("https://api.github.com", help="GitHub API base URL (github:QUERY)."),
    github_max_results: int = typer.Option(1000, help="At most this many search hits (the API caps at 1000)."),
    created_before: Optional[str] = typer.Option(
        "2023-02-01", help="github:QUERY only: repositories created before this date (the paper's cut-off)."),
    workers: int = WORKERS, rank: Optional[int] = RANK, world_size: Optional[int] = WORLD,
    overwrite: bool = OVERWRITE, strict: bool = STRICT, as_json: bool = JSON_OUT,
) -> None:
    """Crawl repositories into repository-aligned `files` Parquet shards."""
    from stages.crawl.languages import resolve_languages
    from stages.crawl.reader import CrawlConfig
    from stages.crawl.stage import CrawlStage, CrawlStageConfig

    def build():
        langs = resolve_languages(languages.split(",")) if languages else None
        config = CrawlStageConfig(
            source=source, shard_size=int(shard_size * (1 << 20)),
            crawl=CrawlConfig(max_file_size=max_file_size, languages=langs, clone_timeout=clone_timeout),
            github={"api_url": github_api_url, "max_results": github_max_results,
                    "created_before": created_before})
        return CrawlStage(config, log=lambda m: print(m, file=sys.stderr))

    _execute(_guard(build), output, workers, rank, world_size, overwrite, strict, as_json)


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

    _execute(_guard(build), output, workers, rank, world_size, overwrite, strict, as_json)


@app.command()
def status(
    output: Path = typer.Argument(..., help="A stage's output folder."),
    as_json: bool = JSON_OUT,
) -> None:
    """Show a stage output's stage, options, shards done / total and rows in / kept / rejected."""
    from .status import describe

    try:
        info = describe(output)
    except DscoderError as exc:
        _fail(exc)
    if as_json:
        print_json(info)
    else:
        from .status import print_status
        print_status(info)


def main() -> None:
    # Broken pipes (`dscoder status X | head`) should not print a traceback.
    try:
        app()
    except BrokenPipeError:
        os._exit(0)
