"""The topo-sort stage's settings: the one place their defaults live (docs/topo-sort.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stages.core.config import comma_list, option
from stages.core.languages import resolve_languages

# The paper applies repository-level concatenation to these; other languages stay one file per sample.
PAPER_SCOPE = ("Python", "Java", "C#", "C", "C++")


def parse_scope(value: str | tuple) -> tuple[str, ...]:
    return tuple(sorted(resolve_languages(comma_list(value))))


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
