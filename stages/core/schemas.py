"""The Parquet schemas stages exchange (docs/formats.md)."""

from __future__ import annotations

import pyarrow as pa

from stages.core.languages import detect_language

# crawl → filter → topo-sort. Files of one repository are contiguous.
FILES_SCHEMA = pa.schema([
    ("repo", pa.string()), ("commit", pa.string()), ("path", pa.string()), ("lang", pa.string()),
    ("content", pa.large_string()), ("size", pa.int64()), ("sha", pa.string()),
    ("license", pa.string()), ("repo_created_at", pa.timestamp("us", tz="UTC")),
])

# Optional `files` column: the repository's star count, where SOURCE has one (a dataset's
# max_stars_count / star_events_count); topo-sort copies it onto samples for dedup's --prefer stars.
STARS_FIELD = pa.field("stars", pa.int64())
FILES_SCHEMA_STARS = FILES_SCHEMA.append(STARS_FIELD)

# One file's parse result as topo-sort records it for the quality filter's syntax rule (parse once;
# stages/filter/syntax.py, docs/formats.md): the language it was scored in, a digest of the file's
# UTF-8 text, and the rule's SyntaxScore.
SYNTAX_SCORE_TYPE = pa.struct([
    ("lang", pa.string()), ("digest", pa.binary()), ("errors", pa.int64()), ("error_bytes", pa.int64()),
    ("total_bytes", pa.int64()), ("first_error_line", pa.int64()), ("message", pa.string()),
])

# topo-sort → dedup → filter → tokenize. One row per training sample: a repository's dependency-
# ordered files (paper §2.2), or a single file for languages outside topo-sort's scope.
SAMPLES_SCHEMA = pa.schema([
    ("sample_id", pa.string()),  # "repo#k", k = the sample's index within its repository
    ("repo", pa.string()), ("lang", pa.string()),  # majority language by bytes
    ("paths", pa.list_(pa.string())),  # in training order
    ("langs", pa.list_(pa.string())),  # each file's own language, aligned with paths
    ("text", pa.large_string()), ("n_files", pa.int64()), ("size", pa.int64()),  # size: UTF-8 bytes of text
    # Parse once: per path, its syntax score (null where topo-sort did not parse it), and the key of
    # the code that computed them (stages.filter.syntax.syntax_key).
    ("syntax_scores", pa.list_(SYNTAX_SCORE_TYPE)), ("syntax_key", pa.string()),
])


def file_languages(paths: list[str], langs: list[str | None] | None) -> list[str | None]:
    """The language of each file of a sample: its `langs` entry, or, for samples written before the
    column existed (or rows that lack it), the language of its name (`detect_language`)."""
    if langs is not None and len(langs) == len(paths):
        return list(langs)
    return [detect_language(p) for p in paths]
