"""The topo-sort stage's settings: the one place their defaults live (docs/topo-sort.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stages.core.config import comma_list, option
from stages.core.languages import resolve_languages
from stages.filter.config import QualityConfig

# The paper applies repository-level concatenation to these; other languages stay one file per sample.
PAPER_SCOPE = ("Python", "Java", "C#", "C", "C++")


def parse_scope(value: str | tuple) -> tuple[str, ...]:
    return tuple(sorted(resolve_languages(comma_list(value))))


# Parse once (docs/filter.md): the languages the quality filter's syntax rule judges by default.
SYNTAX_SCORE_LANGUAGES = tuple(sorted(set(QualityConfig.syntax_languages) | set(QualityConfig.tolerant_syntax_languages)))


@dataclass
class TopoSortConfig:
    input: Path = option(cli=False)
    scope: tuple[str, ...] = option(PAPER_SCOPE, "Languages whose files are concatenated per dependency "
                                    "component (the paper's five); others stay one file per sample.",
                                    cli_type=str, parse=parse_scope)
    seed: int = option(0, "Seed of the tie-breaks between files of equal in-degree.")
    # crawl's own default file size limit: every file a default crawl keeps is parsed.
    max_parse_bytes: int = option(1 << 20, "Files larger than this many bytes are not parsed for imports "
                                  "(no outgoing edges; counter parse_skipped_too_large): bounds tree-sitter's "
                                  "time and memory on generated files.", min=1)
    syntax_scores: tuple[str, ...] = option(
        SYNTAX_SCORE_LANGUAGES, "Record the syntax scores of the files parsed for imports in these languages "
        "(column syntax_scores), so that the quality filter does not parse them again; '' for none.",
        cli_type=str, parse=parse_scope)
