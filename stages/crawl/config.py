"""The crawl stage's settings: the one place their defaults and help texts live (docs/crawl.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

from stages.core.config import comma_list, option
from stages.core.languages import resolve_languages


def parse_languages(value: str | frozenset | None) -> frozenset[str] | None:
    if value is None or isinstance(value, frozenset):
        return value
    return resolve_languages(comma_list(value)) if comma_list(value) else None


@dataclass
class CrawlConfig:
    """How one repository is read."""

    max_file_size: int = option(1 << 20, "Skip files larger than this many bytes (the paper's crawl: 1 MB).", min=1)
    languages: frozenset[str] | None = option(None, "Comma-separated languages to keep (any case; aliases such as "
                                              "cpp, c#, js, py).", cli_type=str,
                                              parse=parse_languages, show="all 87 of the paper's Table 1")
    clone_timeout: float = option(600.0, "Seconds before a git clone is abandoned.", min=0, min_open=True)
    tmp_dir: str | None = option(None, cli=False)


@dataclass
class GitHubConfig:
    """`github:QUERY` sources: the search API (token from $GITHUB_TOKEN, never logged)."""

    api_url: str = option("https://api.github.com", "GitHub API base URL (github:QUERY).", flag="--github-api-url")
    max_results: int = option(1000, "At most this many search hits (the API caps at 1000).",
                              flag="--github-max-results", min=1)
    created_before: str | None = option("2023-02-01", "github:QUERY only: repositories created before this "
                                        "date (the paper's cut-off).")


def _parse_columns(value):
    from .dataset.layouts import parse_columns
    return parse_columns(value)


# SOURCE layouts (docs/crawl.md#datasets); "auto": repositories, or a dataset recognised by its columns;
# "repos": repositories, never a dataset (a folder of repositories holding only .json files).
DATASET_FORMATS = ("auto", "repos", "stack-v1", "stack-v2", "repo-rows", "files", "columns")


@dataclass
class DatasetConfig:
    """SOURCE that is a dataset: a Parquet, JSONL or Arrow file or folder tree, or a folder written
    by HF `datasets` (`save_to_disk`)."""

    format: str = option("auto", "SOURCE layout: auto (repositories, or a dataset recognised by its columns), "
                         "repos (repositories only), stack-v1, stack-v2 (metadata; contents from --blobs), repo-rows (one row per "
                         "repository with its files), files (repo, path, content …), columns (--columns only).",
                         choices=DATASET_FORMATS)
    columns: dict | None = option(None, "Dataset columns for the files fields, e.g. content=text,repo=repo_name,"
                                  "path=file_path (also lang, license, stars, repo_created_at, commit, sha, size, "
                                  "blob_id, is_vendor, is_generated, encoding, files, files.FIELD).",
                                  cli_type=str, parse=_parse_columns, show="the layout's")
    blobs: str | None = option(None, "Folder of file contents named by blob id (The Stack v2): "
                               "BLOBS/<blob_id>[.gz] or BLOBS/<2 hex>/<blob_id>[.gz].", show="none")


@dataclass
class CrawlStageConfig:
    source: str = option(cli=False)
    crawl: CrawlConfig = field(default_factory=CrawlConfig)
    # 64 MB: a shard is crawl's unit of work (whole repositories), so a 250 MB crawl keeps 4 workers
    # busy; later stages cut shards into units of their own (docs/architecture.md#units-of-work), so
    # this no longer bounds their parallelism or memory (docs/crawl.md#shards).
    shard_size_mb: float = option(64.0, "Target shard size in MB of files (repositories never split; a larger "
                                  "repository is a shard alone).", flag="--shard-size", min=0, min_open=True)
    github: GitHubConfig = field(default_factory=GitHubConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)

    @property
    def shard_size(self) -> int:
        """Bytes of estimated input per output shard."""
        return int(self.shard_size_mb * (1 << 20))
