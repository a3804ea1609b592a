"""`dscoder crawl`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..app import app
from ..common import JSON_OUT, OVERWRITE, RANK, STRICT, WORKERS, WORLD, execute, guard

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
    from stages.core.languages import resolve_languages
    from stages.crawl.reader import CrawlConfig
    from stages.crawl.stage import CrawlStage, CrawlStageConfig

    def build():
        langs = resolve_languages(languages.split(",")) if languages else None
        config = CrawlStageConfig(
            source=source, shard_size=int(shard_size * (1 << 20)),
            crawl=CrawlConfig(max_file_size=max_file_size, languages=langs, clone_timeout=clone_timeout),
            github={"api_url": github_api_url, "max_results": github_max_results,
                    "created_before": created_before})
        return CrawlStage(config)

    execute(guard(build), output, workers, rank, world_size, overwrite, strict, as_json)
