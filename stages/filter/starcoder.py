"""The ``starcoder`` rule set (paper §2.1, StarCoder's rules), computed column-wise (framework.py).

StarCoder rules, in the fixed order in which a row's ``reason`` is chosen (the first
failing rule, so per-rule counts add up to the number of rejected rows):

1. ``avg_line_length``: drop if the mean line length > ``max_avg_line_length``.
2. ``max_line_length``: drop if the longest line > ``max_line_length``.
3. ``alpha_fraction``: drop if the fraction of alphabetic characters (``str.isalpha``)
   < ``min_alpha_fraction``; an empty file has fraction 0.
4. ``xml_header``: drop if ``"<?xml version="`` occurs within the first
   ``xml_header_chars`` characters, unless the language is XSLT.
5. ``html_visible_text`` (HTML only): keep only if the visible text (see ``html_text``)
   has >= ``min_visible_text_chars`` characters and >= ``min_visible_text_ratio``
   (0.2) of the file's characters.
6. ``json_yaml_size`` (JSON and YAML only): keep only if
   ``json_yaml_min_chars`` <= characters <= ``json_yaml_max_chars``.

Characters, lines and line lengths are defined in ``text_stats`` (code points; lines of
``content.split("\\n")`` without the final empty piece of a trailing newline). Null texts
count as empty strings. Languages are compared case-insensitively; a null language matches
no language (so only the rules for all languages apply to it).
"""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc

from stages.filter.config import StarCoderConfig
from stages.filter.framework import Rule
from stages.filter.html_text import visible_text

XML_HEADER = "<?xml version="


class AvgLineLength(Rule):
    name, version = "avg_line_length", 1

    def __init__(self, max_avg_line_length: float) -> None:
        super().__init__(max_avg_line_length=max_avg_line_length)

    def score(self, ctx):
        return ctx.stats.mean_line_length

    def keep(self, scores):
        return scores <= self.params["max_avg_line_length"]


class MaxLineLength(Rule):
    name, version = "max_line_length", 1

    def __init__(self, max_line_length: int) -> None:
        super().__init__(max_line_length=max_line_length)

    def score(self, ctx):
        return ctx.stats.max_line_length

    def keep(self, scores):
        return scores <= self.params["max_line_length"]


class AlphaFraction(Rule):
    name, version = "alpha_fraction", 1

    def __init__(self, min_alpha_fraction: float) -> None:
        super().__init__(min_alpha_fraction=min_alpha_fraction)

    def score(self, ctx):
        return ctx.stats.alpha_fraction

    def keep(self, scores):
        return scores >= self.params["min_alpha_fraction"]


class XmlHeader(Rule):
    name, version = "xml_header", 1
    exempt = frozenset({"xslt"})

    def __init__(self, xml_header_chars: int) -> None:
        super().__init__(xml_header_chars=xml_header_chars)

    def score(self, ctx):
        """1.0 where the header occurs within the first ``xml_header_chars`` characters."""
        # utf8_slice_codeunits counts code points despite its name (tested).
        head = pc.utf8_slice_codeunits(ctx.texts, 0, self.params["xml_header_chars"])
        found = pc.fill_null(pc.match_substring(head, XML_HEADER), False)
        return np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.float64)

    def keep(self, scores):
        return scores == 0


HTML_SCORE_DTYPE = np.dtype([("visible_chars", np.float64), ("visible_ratio", np.float64)])


class HtmlVisibleText(Rule):
    name, version = "html_visible_text", 1
    applies_to = frozenset({"html"})

    def __init__(self, min_visible_text_ratio: float, min_visible_text_chars: int) -> None:
        super().__init__(min_visible_text_ratio=min_visible_text_ratio, min_visible_text_chars=min_visible_text_chars)

    def score(self, ctx):
        """Structured array (visible_chars, visible_ratio); NaN for rows not scored.

        Parsing is the only per-row Python work of the filter, so it runs only on the HTML
        rows that earlier rules kept.
        """
        scores = np.full(len(ctx), np.nan, dtype=HTML_SCORE_DTYPE)
        rows = np.flatnonzero(self.applies(ctx) & ctx.alive)
        visible = np.array([len(visible_text(t)) for t in ctx.texts_at(rows)], dtype=np.float64)
        n_chars = ctx.stats.n_chars[rows]
        ratio = np.zeros(len(rows), dtype=np.float64)
        np.divide(visible, n_chars, out=ratio, where=n_chars > 0)
        scores["visible_chars"][rows] = visible
        scores["visible_ratio"][rows] = ratio
        return scores

    def keep(self, scores):
        return (scores["visible_chars"] >= self.params["min_visible_text_chars"]) & (
            scores["visible_ratio"] >= self.params["min_visible_text_ratio"]
        )


class JsonYamlSize(Rule):
    name, version = "json_yaml_size", 1
    applies_to = frozenset({"json", "yaml"})

    def __init__(self, json_yaml_min_chars: int, json_yaml_max_chars: int) -> None:
        super().__init__(json_yaml_min_chars=json_yaml_min_chars, json_yaml_max_chars=json_yaml_max_chars)

    def score(self, ctx):
        return ctx.stats.n_chars

    def keep(self, scores):
        return (scores >= self.params["json_yaml_min_chars"]) & (scores <= self.params["json_yaml_max_chars"])


def starcoder_rules(config: StarCoderConfig | dict | None = None) -> list[Rule]:
    """The six StarCoder rules in their fixed order."""
    if config is None:
        config = StarCoderConfig()
    elif isinstance(config, dict):
        config = StarCoderConfig(**config)
    return [
        AvgLineLength(config.max_avg_line_length),
        MaxLineLength(config.max_line_length),
        AlphaFraction(config.min_alpha_fraction),
        XmlHeader(config.xml_header_chars),
        HtmlVisibleText(config.min_visible_text_ratio, config.min_visible_text_chars),
        JsonYamlSize(config.json_yaml_min_chars, config.json_yaml_max_chars),
    ]


