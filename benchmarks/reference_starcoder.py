"""The StarCoder rules as a plain per-document Python loop (bigcode-dataset style).

This is the baseline of ``benchmarks/bench_filter.py`` and the oracle the tests compare the
vectorised ``framework.apply_rules`` with. Definitions are the ones in ``text_stats``: characters
are code points; lines are ``content.split("\\n")`` with the final empty piece dropped when
the content ends with "\\n"; a line's length excludes the "\\n"; mean line length = sum of
line lengths / number of lines; the alpha fraction of an empty file is 0; a null content
is an empty string; languages compare case-insensitively.
"""

from __future__ import annotations

from stages.filter.html_text import visible_text
from stages.filter.config import StarCoderConfig
from stages.filter.starcoder import XML_HEADER


def filter_document(content: str | None, lang: str | None, config: StarCoderConfig | None = None) -> str | None:
    """Name of the first failing rule, or None when the document is kept."""
    config = config or StarCoderConfig()
    content = content or ""
    lang = lang.lower() if lang is not None else None

    lines = content.split("\n")
    if content.endswith("\n"):
        lines.pop()
    line_lengths = [len(line) for line in lines]
    if sum(line_lengths) / len(lines) > config.max_avg_line_length:
        return "avg_line_length"
    if max(line_lengths) > config.max_line_length:
        return "max_line_length"

    n_chars = len(content)
    alpha = sum(c.isalpha() for c in content)
    if (alpha / n_chars if n_chars else 0.0) < config.min_alpha_fraction:
        return "alpha_fraction"

    if lang != "xslt" and XML_HEADER in content[: config.xml_header_chars]:
        return "xml_header"

    if lang == "html":
        visible = len(visible_text(content))
        if visible < config.min_visible_text_chars or (visible / n_chars if n_chars else 0.0) < config.min_visible_text_ratio:
            return "html_visible_text"

    if lang in ("json", "yaml") and not (config.json_yaml_min_chars <= n_chars <= config.json_yaml_max_chars):
        return "json_yaml_size"
    return None
