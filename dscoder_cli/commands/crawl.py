"""`dscoder crawl`: options from stages/crawl/config.py."""

from __future__ import annotations

from pathlib import Path

import typer

from stages.crawl.config import CrawlConfig, CrawlStageConfig, DatasetConfig, GitHubConfig

from ..app import command
from ..common import JSON_OUT, execute, run_options
from ..options import config_options


@command()
@config_options(CrawlStageConfig, dest="settings", exclude=("source",))
@config_options(CrawlConfig, dest="reading")
@config_options(GitHubConfig, dest="github")
@config_options(DatasetConfig, dest="dataset")
@run_options
def crawl(
    source: str = typer.Argument(..., help="A folder of repositories (or one repository), a text file "
                                 "with one git URL or path per line, a git URL, github:QUERY, or a dataset: "
                                 "a Parquet/JSONL/Arrow file or folder, or a folder saved by HF datasets."),
    output: Path = typer.Argument(..., help="Output folder for `files` shards."),
    as_json: bool = JSON_OUT, settings: dict = None, reading: dict = None, github: dict = None,
    dataset: dict = None, run: dict = None,
) -> None:
    """Crawl repositories (or read a dataset) into repository-aligned `files` Parquet shards."""
    from stages.crawl.stage import CrawlStage

    config = CrawlStageConfig(source=source, crawl=CrawlConfig(**reading), github=GitHubConfig(**github),
                              dataset=DatasetConfig(**dataset), **settings)
    execute(CrawlStage(config), output, run, as_json)
